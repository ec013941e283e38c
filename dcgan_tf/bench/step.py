"""Speed of the GAN train step: images/s and FLOP utilisation against a measured matmul peak.

What `run` measures, in one process so the numbers are comparable:
  matmul   GFLOP/s of one n x n @ n x n tf.matmul (2 n^3 FLOPs) in float32 and
           bfloat16: the "peak" the step is compared with.
  step     Keras' own train function (the tf.function `fit` calls, with the
           configured jit_compile and steps_per_execution) on a synthetic batch
           that sits in memory: a dataset of one tensor, repeated, so there is no
           decoding, shuffling or copying. Warm-up (tracing, XLA compilation, the
           first steps) is excluded.
Settings are timed in interleaved rounds (matmul, setting 1, setting 2, ... then
again) and summarised by the median, so load from other processes on a shared
machine hits every setting alike; the ratio between settings is the robust number.

utilisation = flops.train_step_flops(G, D) per image * images/s / float32 matmul peak.
breakdown.py shows where the time goes.
"""

import dataclasses
import os
import statistics
import time
from typing import Dict, Iterable, List

import keras
import numpy as np
import tensorflow as tf

from dcgan_tf import devices
from dcgan_tf import seeds
from dcgan_tf.bench import flops as flops_lib
from dcgan_tf.bench import settings as settings_lib
from dcgan_tf.config import Config
from dcgan_tf.train import setup


@dataclasses.dataclass(frozen=True)
class Setting:
  """One measured configuration of the step."""
  precision: str  # float32 | mixed_float16 | mixed_bfloat16 (resolved: never auto)
  jit_compile: bool  # XLA for the whole step
  steps_per_execution: int  # train steps per tf.function call, >= 1

  def as_dict(self):
    return dataclasses.asdict(self)


def wall(fn, *args):
  """Seconds for fn(*args), including the device work (the result is fetched)."""
  t = time.perf_counter()
  out = fn(*args)
  tf.nest.map_structure(lambda x: x.numpy() if hasattr(x, "numpy") else x, out)
  return time.perf_counter() - t


def load_average() -> float:
  """1-minute load average of the machine (>= 0): context for noisy numbers."""
  return round(os.getloadavg()[0], 2)


def set_threads(intra_op: int, inter_op: int) -> None:
  """Thread pools (0 = TF's default: one per core). Must run before TF executes any op."""
  if intra_op:
    tf.config.threading.set_intra_op_parallelism_threads(intra_op)
  if inter_op:
    tf.config.threading.set_inter_op_parallelism_threads(inter_op)


def settings(options) -> List[Setting]:
  """One Setting per (resolved precision, XLA choice, steps_per_execution) of validated
  bench options (settings.BenchOptions)."""
  out = []
  for precision in dict.fromkeys(devices.resolve_precision(p)
                                 for p in settings_lib.precisions(options)):
    if options.compare_jit:
      jits = [False, True]
    elif options.jit_compile is None:
      jits = [devices.resolve_jit_compile("auto")]
    else:
      jits = [options.jit_compile]
    out += [Setting(precision, jit, spe) for jit in jits
            for spe in settings_lib.steps_per_execution(options)]
  return out


class MatmulProbe:
  """One [n, n] @ [n, n] product in `dtype` (float32 accumulation is oneDNN's for bf16)."""

  def __init__(self, dtype: str, n: int):
    self.dtype, self.n, self.flops = dtype, n, 2 * n ** 3
    rng = tf.random.Generator.from_seed(seeds.derive(0, "bench_inputs"))
    self.a = tf.cast(rng.normal([n, n]), dtype)
    self.b = tf.cast(rng.normal([n, n]), dtype)
    # The sum makes every output element needed; it costs n^2, the product 2 n^3.
    self.fn = tf.function(lambda a, b: tf.reduce_sum(tf.cast(tf.matmul(a, b), tf.float32)))
    wall(self.fn, self.a, self.b)  # trace

  def time_once(self) -> float:
    return wall(self.fn, self.a, self.b)


class StepProbe:
  """A compiled GAN (train/setup.make_gan, as `fit` would run it) fed one in-memory batch."""

  def __init__(self, config: Config, setting: Setting):
    self.setting = setting
    config = settings_lib.network_config(config.replace(
        precision=setting.precision, jit_compile="on" if setting.jit_compile else "off",
        steps_per_execution=setting.steps_per_execution))
    # make_gan sets the dtype policy, global and read when layers are built: restore it.
    try:
      self.gan, _, _ = setup.make_gan(config, tf.distribute.get_strategy())
    finally:
      keras.mixed_precision.set_dtype_policy("float32")
    b, s, c = config.batch_size, config.image_size, config.channels
    # Synthetic inputs: stateless seeds [input_seed, 1 | 2 | 3] (images, labels, z).
    self.input_seed = seeds.derive(config.seed, "bench_inputs")
    images = tf.random.stateless_uniform([b, s, s, c], seed=[self.input_seed, 1], minval=-1,
                                         maxval=1)
    labels = tf.random.stateless_uniform([b], seed=[self.input_seed, 2],
                                         maxval=max(config.num_classes, 1), dtype=tf.int32)
    self.iterator = iter(tf.data.Dataset.from_tensors((images, labels)).repeat())
    self.gan.make_train_function()
    self.flops_per_image = flops_lib.train_step_flops(self.gan.generator, self.gan.discriminator,
                                                      config.d_steps)
    self.last_logs = None

  def _execute(self):
    self.last_logs = self.gan.train_function(self.iterator)
    return self.last_logs

  def warm_up(self, steps: int) -> float:
    """Traces/compiles and runs >= `steps` steps; returns the first call's seconds."""
    first = wall(self._execute)
    for _ in range(max(0, -(-steps // self.setting.steps_per_execution) - 1)):
      wall(self._execute)
    return first

  def time_once(self) -> float:
    """Seconds per train step, from one call of the train function."""
    return wall(self._execute) / self.setting.steps_per_execution

  def losses(self) -> Dict[str, float]:
    return {k: float(np.ravel(v.numpy())[0]) for k, v in (self.last_logs or {}).items()}


def median(xs):
  return statistics.median(xs) if xs else float("nan")


def run(config: Config, settings: Iterable[Setting], steps: int = 30, warmup: int = 5,
        rounds: int = 5, matmul_size: int = 2048) -> List[dict]:
  """Measures every setting (see the module docstring); returns one dict per measurement.

  steps: timed train steps per setting (>= 1), spread over `rounds` (>= 1) rounds.
  """
  settings = list(settings)
  load_start = load_average()
  matmuls = [MatmulProbe(dtype, matmul_size) for dtype in ("float32", "bfloat16")]
  probes, first_call = [], {}
  for setting in settings:
    probe = StepProbe(config, setting)
    first_call[setting] = probe.warm_up(warmup)
    probes.append(probe)
  matmul_times = {m.dtype: [] for m in matmuls}
  step_times = {p.setting: [] for p in probes}
  # Matmuls fill about a second per round: enough to see the same load as the steps.
  reps = {m.dtype: max(2, round(1.0 / m.time_once())) for m in matmuls}
  for r in range(rounds):
    for m in matmuls:
      matmul_times[m.dtype] += [m.time_once() for _ in range(reps[m.dtype])]
    for p in probes:
      calls = -(-steps // p.setting.steps_per_execution)  # ceil
      share = calls // rounds + (1 if r < calls % rounds else 0)
      step_times[p.setting] += [p.time_once() for _ in range(share)]
  load = max(load_start, load_average())

  results = []
  peak = {}
  for m in matmuls:
    peak[m.dtype] = m.flops / median(matmul_times[m.dtype]) / 1e9
    results.append(dict(kind="matmul", dtype=m.dtype, n=m.n, gflop_per_s=round(peak[m.dtype], 2),
                        best_gflop_per_s=round(m.flops / min(matmul_times[m.dtype]) / 1e9, 2),
                        cpu_native_bf16=devices.cpu_has_bf16(), load_1m=load))
  base = {}
  for p in probes:
    s = p.setting
    s_per_step = median(step_times[s])
    img_per_s = config.batch_size / s_per_step
    gflops = p.flops_per_image * img_per_s / 1e9
    own_peak = peak["bfloat16" if s.precision == "mixed_bfloat16" else "float32"]
    row = dict(kind="step", variant=config.variant, image_size=config.image_size,
               channels=config.channels, batch_size=config.batch_size, **s.as_dict(),
               steps=len(step_times[s]) * s.steps_per_execution, s_per_step=round(s_per_step, 5),
               s_per_step_min=round(min(step_times[s]), 5), img_per_s=round(img_per_s, 2),
               flops_per_image=p.flops_per_image, gflop_per_s=round(gflops, 2),
               matmul_fp32_gflop_per_s=round(peak["float32"], 2),
               utilisation=round(gflops / peak["float32"], 4),
               utilisation_own_dtype_peak=round(gflops / own_peak, 4),
               first_call_s=round(first_call[s], 2), load_1m=load,
               losses={k: round(v, 4) for k, v in p.losses().items()})
    if s.precision == "float32":
      base[(s.jit_compile, s.steps_per_execution)] = img_per_s
    results.append(row)
  for row in results:  # speed relative to float32 with the same XLA / steps_per_execution
    ref = base.get((row.get("jit_compile"), row.get("steps_per_execution")))
    if row["kind"] == "step" and ref:
      row["vs_float32"] = round(row["img_per_s"] / ref, 3)
  return results
