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
import shutil
import subprocess

import keras
import tensorflow as tf
from absl import logging

from dcgan_tf.errors import UserError

# What to install where the NVIDIA driver works but TensorFlow finds no CUDA libraries:
# TensorFlow 2.21's `tensorflow` wheel has none; the `and-cuda` extra brings them.
CUDA_INSTALL = "pip install 'tensorflow[and-cuda]>=2.21,<2.22' (or `make install`)"


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


def driver_gpus() -> list:
  """The GPUs the NVIDIA driver lists (`nvidia-smi -L` lines); [] without the tool, a
  driver or a GPU. Independent of TensorFlow: it tells a machine that has a GPU TensorFlow
  cannot use from one without any."""
  exe = shutil.which("nvidia-smi")
  if exe is None:
    return []
  try:
    result = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=30)
  except (OSError, subprocess.SubprocessError):
    return []
  if result.returncode != 0:
    return []
  return [line.strip() for line in result.stdout.splitlines() if line.startswith("GPU")]


def check_gpu(require: bool) -> None:
  """Warns (or, with require, raises UserError) when TensorFlow sees no GPU: naming what
  to install when the driver lists one, since the run would otherwise train on the CPU at
  a fraction of the speed, in float32."""
  if has_gpu():
    return
  gpus = driver_gpus()
  if gpus:
    message = (f"nvidia-smi lists {len(gpus)} GPU(s) but TensorFlow sees none (no CUDA "
               f"libraries): {CUDA_INSTALL}, or install CUDA 12 and cuDNN 9")
  elif require:
    message = "TensorFlow sees no GPU and nvidia-smi lists none"
  else:
    return
  if require:
    raise UserError(f"--require_gpu: {message}")
  logging.warning("%s; training on the CPU (--require_gpu makes this an error)", message)


def describe(strategy, policy: str, jit_compile) -> str:
  """One line: the devices TensorFlow sees, the strategy, precision policy and XLA choice."""
  devices = ", ".join(f"{d.device_type}:{d.name.rsplit(':', 1)[-1]}"
                      for d in tf.config.list_physical_devices()) or "none"
  xla = {True: "on", False: "off"}.get(jit_compile, "Keras' choice")
  return (f"devices {devices}; strategy {type(strategy).__name__.lstrip('_')} with "
          f"{strategy.num_replicas_in_sync} replica(s); precision {policy}; XLA {xla}")


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
