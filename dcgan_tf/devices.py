"""Hardware choices made once per run: precision policy, XLA, and the conv implementation.

Each `resolve_*` turns a Config value (`auto` or an explicit choice) into what the
trainer uses, from the devices TensorFlow actually sees; tests compare against these
functions rather than assume a CPU, so they hold on GPU machines too.

  precision  auto -> mixed_float16 on a GPU, mixed_bfloat16 on a TPU, float32 on CPUs
  jit        auto -> XLA on for one replica on a CPU-only machine, off under a
             multi-replica strategy, Keras' own choice elsewhere
  conv_impl  auto -> subpixel on machines without a GPU, keras elsewhere
"""

import functools

import keras
import tensorflow as tf


@functools.lru_cache(maxsize=None)
def cpu_flags() -> frozenset:
  """CPU feature flags from /proc/cpuinfo (empty where it does not exist)."""
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("flags"):
          return frozenset(line.split(":", 1)[1].split())
  except OSError:
    pass
  return frozenset()


def cpu_has_bf16() -> bool:
  """True on CPUs with native bfloat16 matmul (AVX512-BF16 or AMX-BF16)."""
  return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def has_gpu() -> bool:
  return bool(tf.config.list_physical_devices("GPU"))


def resolve_precision(precision: str) -> str:
  """auto -> mixed_float16 on a GPU, mixed_bfloat16 on a TPU, float32 on CPUs.

  CPUs stay float32 even with AVX512-BF16/AMX: mixed_bfloat16 has not been measured
  faster there with these small convolutions (docs/results.md); pass
  --precision=mixed_bfloat16 after checking with `python -m dcgan_tf.bench`.
  """
  if precision != "auto":
    return precision
  if has_gpu():
    return "mixed_float16"
  if tf.config.list_logical_devices("TPU"):
    return "mixed_bfloat16"
  return "float32"


def set_precision(precision: str) -> str:
  """Sets Keras' global dtype policy (read when layers are built); returns the policy name."""
  policy = resolve_precision(precision)
  keras.mixed_precision.set_dtype_policy(policy)
  return policy


def resolve_jit_compile(mode: str, strategy=None):
  """--jit_compile (auto | on | off) -> the value for keras.Model.compile.

  auto: on for one replica on a CPU-only machine, where XLA measured faster than
  TensorFlow's default kernels for every policy (1.3-1.5x, docs/results.md) at a
  one-off compile of ~5-15 s; off under a tf.distribute strategy (Keras cannot
  jit-compile a distributed step); elsewhere Keras' own choice ("auto": on for one
  GPU/TPU).
  """
  if mode == "on":
    return True
  if mode == "off":
    return False
  if strategy is not None and (strategy.num_replicas_in_sync > 1 or isinstance(
      strategy, (tf.distribute.MirroredStrategy, tf.distribute.MultiWorkerMirroredStrategy))):
    return False
  if not any(d.device_type != "CPU" for d in tf.config.list_physical_devices()):
    return True
  return "auto"


def resolve_conv_impl(mode: str) -> str:
  """--conv_impl (auto | keras | subpixel) -> keras | subpixel.

  auto: subpixel without a GPU (about 2x faster transposed convolutions on CPUs,
  models/subpixel.py), keras with one (cuDNN's transposed convolution is not the
  bottleneck there; unmeasured).
  """
  if mode != "auto":
    return mode
  return "keras" if has_gpu() else "subpixel"
