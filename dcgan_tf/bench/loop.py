"""The whole training loop against the bare compiled step: what per-step host work costs.

On a fast GPU a 64x64 step takes 1-2 ms, so Python between steps (callbacks, log
conversion, step-counter reads, extra dispatches) decides throughput. A tiny model whose
step takes a few ms on a CPU is the stand-in. Two measurements of the same Config:
  step   Keras' train function called back to back on the run's own input pipeline
         (bench/step.StepProbe's compiled GAN, with the configured steps_per_execution)
  loop   train.loop.train: the product's run, default callbacks, EMA, logging, grids and
         checkpoints at their periods; timed inside fit from the first round at or after
         `warmup` steps to the last round (compilation, step-0 checkpoint, export excluded)
ratio = loop images/s / step images/s (1.0: the loop costs nothing on top of the step).
"""

import tempfile
import time

import keras
import tensorflow as tf

from dcgan_tf import data, devices
from dcgan_tf.bench import step as step_lib
from dcgan_tf.config import Config


class RoundClock(keras.callbacks.Callback):
  """Wall time at the end of every callback round, keyed by the steps done in the run's
  fits so far (Keras' step index plus the earlier fits' steps: no device read)."""

  def __init__(self):
    super().__init__()
    self.marks = []  # (steps done, perf_counter)
    self._offset = 0

  def on_train_begin(self, logs=None):
    self._offset = self.marks[-1][0] if self.marks else 0

  def on_train_batch_end(self, batch, logs=None):
    self.marks.append((self._offset + batch + 1, time.perf_counter()))


def _rate(marks, warmup, batch_size):
  """images/s between the first mark at or after `warmup` steps and the last mark."""
  timed = [(s, t) for s, t in marks if s >= warmup]
  (s0, t0), (s1, t1) = timed[0], timed[-1]
  return (s1 - s0) * batch_size / max(t1 - t0, 1e-9), s1 - s0


def compare(config: Config, steps: int, warmup: int) -> dict:
  """{'kind': 'loop', step and loop images/s, ratio, ...} for `steps` timed steps."""
  from dcgan_tf.train import loop  # the product's run
  spe = devices.resolve_steps_per_execution(config.steps_per_execution, config)
  # Whole rounds only: a run length off the multiples of spe ends in a shorter round, whose
  # train function compiles inside the timed window.
  warmup = -(-warmup // spe) * spe
  precision = devices.resolve_precision(config.precision)
  setting = step_lib.Setting(precision, devices.resolve_jit_compile(config.jit_compile), spe)
  probe = step_lib.StepProbe(config, setting)
  dataset, _ = data.make_dataset(config, uint8=True)  # as train() reads it
  probe.iterator = iter(dataset)
  probe.warm_up(warmup)
  calls = -(-steps // spe)
  t0 = time.perf_counter()
  for _ in range(calls):
    probe._execute()
  tf.nest.map_structure(lambda x: x.numpy(), probe.last_logs)
  step_rate = calls * spe * config.batch_size / (time.perf_counter() - t0)

  clock = RoundClock()
  with tempfile.TemporaryDirectory() as workdir:
    loop.train(config.replace(train_steps=warmup + calls * spe, export=False), workdir,
               extra_callbacks=[clock])
  keras.mixed_precision.set_dtype_policy("float32")
  loop_rate, timed = _rate(clock.marks, warmup, config.batch_size)
  return dict(kind="loop", variant=config.variant, image_size=config.image_size,
              batch_size=config.batch_size, gen_filters=config.gen_filters,
              disc_filters=config.disc_filters, precision=precision,
              jit_compile=setting.jit_compile, steps_per_execution=spe,
              ema=config.ema_decay > 0, log_every=config.log_every,
              step_ms=round(1000 * config.batch_size / step_rate, 3),
              step_img_per_s=round(step_rate, 1), loop_img_per_s=round(loop_rate, 1),
              loop_steps_timed=timed, ratio=round(loop_rate / step_rate, 3),
              load_1m=step_lib.load_average())
