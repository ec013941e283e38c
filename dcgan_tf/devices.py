"""Hardware choices made once per run: precision policy, XLA, and the conv implementation.

Each `resolve_*` turns a Config value (`auto` or an explicit choice) into what the
trainer uses, from the devices TensorFlow actually sees; tests compare against these
functions rather than assume a CPU, so they hold on GPU machines too.

  precision  auto -> mixed_float16 on a GPU, mixed_bfloat16 on a TPU, float32 on CPUs
  jit        auto -> XLA on for one replica on a CPU-only machine, off under a
             multi-replica strategy, Keras' own choice elsewhere
  conv_impl  auto -> subpixel on machines without a GPU, keras elsewhere
"""

import contextlib
import functools
import math
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
  """True when TensorFlow will compute on a GPU: the logical devices, so GPUs hidden with
  CUDA_VISIBLE_DEVICES or tf.config.set_visible_devices choose the CPU defaults."""
  return bool(tf.config.list_logical_devices("GPU"))


# TF 2.21's CUDA 12.5 wheels: CUDA 12 runs on drivers >= 525.60.13 (minor-version
# compatibility), but kernels JIT-compiled from PTX (TF ships sm_60..sm_89 binaries plus
# compute_90 PTX, so every Hopper or newer GPU) need a driver of CUDA 12.5 itself.
MIN_DRIVER = (525, 60, 13)
MIN_DRIVER_PTX = (555, 42)
PTX_COMPUTE_CAPABILITY = (9, 0)  # >= this: no binary kernels in the wheel, PTX JIT


def _version(text: str) -> tuple:
  return tuple(int(part) for part in text.strip().split(".") if part.isdigit())


def _nvidia_smi(*args) -> list:
  """Output lines of `nvidia-smi ARGS`; [] without the tool, a driver or a GPU."""
  exe = shutil.which("nvidia-smi")
  if exe is None:
    return []
  try:
    result = subprocess.run([exe, *args], capture_output=True, text=True, timeout=30)
  except (OSError, subprocess.SubprocessError):
    return []
  return result.stdout.splitlines() if result.returncode == 0 else []


def driver_problem():
  """A sentence when the NVIDIA driver is older than TF 2.21's CUDA 12.5 needs, else None.

  Reads `nvidia-smi --query-gpu=driver_version` (and `compute_cap` apart: nvidia-smi of
  drivers older than ~R510 lacks that field and would fail a joint query): below
  MIN_DRIVER TensorFlow cannot use the GPU at all; below MIN_DRIVER_PTX a GPU of compute
  capability >= 9.0 fails when its kernels are JIT-compiled from PTX at first use.
  """
  versions = [line.strip() for line in _nvidia_smi("--query-gpu=driver_version",
                                                   "--format=csv,noheader") if _version(line)]
  if not versions:
    return None
  caps = _nvidia_smi("--query-gpu=compute_cap", "--format=csv,noheader")
  driver, needs_ptx = versions[0], any(_version(cap) >= PTX_COMPUTE_CAPABILITY for cap in caps)
  if _version(driver) < MIN_DRIVER:
    return (f"NVIDIA driver {driver} is older than CUDA 12 needs "
            f"({'.'.join(map(str, MIN_DRIVER))}): TensorFlow 2.21 cannot use the GPU; update "
            "the driver")
  if needs_ptx and _version(driver) < MIN_DRIVER_PTX:
    return (f"NVIDIA driver {driver} cannot JIT-compile TensorFlow 2.21's kernels for this "
            f"GPU (compute capability >= 9.0 needs a CUDA 12.5 driver, "
            f"{'.'.join(map(str, MIN_DRIVER_PTX))} or newer); update the driver")
  return None


def driver_gpus() -> list:
  """The GPUs the NVIDIA driver lists (`nvidia-smi -L` lines); [] without the tool, a
  driver or a GPU. Independent of TensorFlow: it tells a machine that has a GPU TensorFlow
  cannot use from one without any."""
  return [line.strip() for line in _nvidia_smi("-L") if line.startswith("GPU")]


def check_gpu(require: bool) -> None:
  """Warns (or, with require, raises UserError) when TensorFlow sees no GPU: naming what
  to install when the driver lists one, since the run would otherwise train on the CPU at
  a fraction of the speed, in float32."""
  problem = driver_problem()
  if problem:
    logging.warning("%s", problem)
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
    raise UserError(message, "require_gpu")
  logging.warning("%s; training on the CPU (--require_gpu makes this an error)", message)


def describe(strategy, policy: str, jit_compile) -> str:
  """One line: the devices TensorFlow computes on (logical), the strategy, precision policy and XLA choice."""
  devices = ", ".join(f"{d.device_type}:{d.name.rsplit(':', 1)[-1]}"
                      for d in tf.config.list_logical_devices()) or "none"
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


@contextlib.contextmanager
def dtype_policy(name: str):
  """Keras' global dtype policy set to `name` for the layers built inside, then restored."""
  previous = keras.mixed_precision.dtype_policy()
  keras.mixed_precision.set_dtype_policy(name)
  try:
    yield
  finally:
    keras.mixed_precision.set_dtype_policy(previous)


def resolve_jit_compile(mode: str, strategy=None):
  """--jit_compile (auto | on | off) -> the value for keras.Model.compile.

  auto: on for one replica on a CPU-only machine, where XLA measured faster than
  TensorFlow's default kernels for every policy (1.3-1.5x, docs/results.md) at a
  one-off compile of ~5-15 s; off under a multi-replica tf.distribute strategy (Keras
  cannot jit-compile a distributed step); on under the one-GPU OneDeviceStrategy (Keras'
  "auto" turns XLA off under any strategy, though one replica compiles as one device
  does: tests train both ways bit-equal on the CPU); elsewhere Keras' own choice ("auto":
  on for one GPU/TPU).
  """
  if mode == "on":
    return True
  if mode == "off":
    return False
  if strategy is not None and (strategy.num_replicas_in_sync > 1 or isinstance(
      strategy, (tf.distribute.MirroredStrategy, tf.distribute.MultiWorkerMirroredStrategy))):
    return False
  if isinstance(strategy, tf.distribute.OneDeviceStrategy):
    return True
  if not any(d.device_type != "CPU" for d in tf.config.list_physical_devices()):
    return True
  return "auto"


# auto's ceiling on a GPU/TPU: 32 steps of 1-2 ms amortise the host's per-call work
# (callbacks, log conversion, a step-counter read: ~1 ms) to a few percent.
MAX_AUTO_STEPS_PER_EXECUTION = 32


def resolve_steps_per_execution(value, config) -> int:
  """--steps_per_execution (auto | N) -> N >= 1 train steps per tf.function call.

  auto: 1 on CPU-only machines, where a step takes tens of ms and the per-call host work
  is noise; on a GPU/TPU the largest N <= 32 dividing every period (--log_every,
  --sample_every, --checkpoint_every, --eval_every when on), so every action still fires
  at its exact step while Python runs once per N steps.
  """
  if str(value) != "auto":
    return int(value)
  if not (has_gpu() or tf.config.list_logical_devices("TPU")):
    return 1
  periods = [config.log_every, config.sample_every, config.checkpoint_every, config.eval_every]
  common = 0
  for period in periods:
    common = math.gcd(common, int(period))  # gcd(0, p) = p: an off period (0) is skipped
  return max(n for n in range(1, MAX_AUTO_STEPS_PER_EXECUTION + 1) if common % n == 0)


def resolve_conv_impl(mode: str) -> str:
  """--conv_impl (auto | keras | subpixel) -> keras | subpixel.

  auto: subpixel without a GPU (about 2x faster transposed convolutions on CPUs,
  models/subpixel.py), keras with one (cuDNN's transposed convolution is not the
  bottleneck there; unmeasured).
  """
  if mode != "auto":
    return mode
  return "keras" if has_gpu() else "subpixel"
