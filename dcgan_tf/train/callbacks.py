"""The per-step actions of a training run, and the one Keras callback that runs them.

A run's actions (faults.NonFiniteGuard, ada.AdaptAugment, ema.EMAStatistics, StepLogger,
SampleGrid, evaluation.PeriodicEval, Checkpointer, then faults.SignalStop or
CoordinatedStop) are listed once, in order, in train/loop.py and handed to RunActions: after every round of
train steps (one round = steps_per_execution steps) it reads `gan.step` once and calls
each action's after(previous, step, logs). Order matters: the guard first, so a
rejected step trips it before anything reads the weights; the checkpointer after
everything that reads weights; the stop last, once the step is saved.

Periodic actions fire when a period boundary is crossed (`crossed`): with
steps_per_execution k a multiple of the period inside (previous, step] still fires
at the round's end, so no checkpoint, grid or evaluation is ever skipped.

All of them key off `gan.step` (generator steps taken, continuous across resumes),
never Keras' per-fit batch counter, and write TensorBoard eagerly with that explicit
step: `tf.summary` inside `train_step` would land at step 1.
"""

import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from dcgan_tf import images as images_lib
from dcgan_tf.gan import log_floats


def crossed(previous: int, step: int, every: int) -> bool:
  """True when (previous, step] holds a multiple of `every` (> 0; 0 = never)."""
  return every > 0 and step // every > previous // every


class Action(keras.callbacks.Callback):
  """One per-step action of a run. RunActions calls begin(step) when fit starts,
  after(previous, step, logs) after each round of steps previous+1 .. step (logs:
  {name: float}, the round's train_step logs) and end(step) when fit ends. Used alone as
  a Keras callback (tests), it reads `self.gan.step` itself.

  tripped: True when this action rejected the round (the non-finite guard); the later
  actions then skip it, but those with always = True.
  """

  tripped = False
  always = False

  def begin(self, step: int) -> None:
    pass

  def after(self, previous: int, step: int, logs: dict) -> None:
    pass

  def end(self, step: int) -> None:
    pass

  def on_train_begin(self, logs=None):
    self._previous = int(self.gan.step.numpy())
    self.begin(self._previous)

  def on_train_batch_end(self, batch, logs=None):
    step = int(self.gan.step.numpy())
    self.after(self._previous, step, log_floats(logs))
    self._previous = step

  def on_train_end(self, logs=None):
    self.end(int(self.gan.step.numpy()))


class RunActions(keras.callbacks.Callback):
  """The run's actions in their order, with the step read once per round of steps."""

  def __init__(self, gan, actions):
    super().__init__()
    self.gan, self.actions = gan, list(actions)
    for action in self.actions:
      if getattr(action, "gan", None) is None:
        action.gan = gan
      action.set_model(gan)  # actions that stop fit set gan.stop_training
    self.step, self.tripped = None, False

  def on_train_begin(self, logs=None):
    self.step, self.tripped = int(self.gan.step.numpy()), False
    for action in self.actions:
      action.begin(self.step)

  def on_train_batch_end(self, batch, logs=None):
    previous, self.step = self.step, int(self.gan.step.numpy())
    logs = log_floats(logs)
    tripped = False
    for action in self.actions:
      # Once the guard trips, the round's weights are rolled back: nothing after it may
      # log, sample, evaluate or save them (except actions that must run every round).
      if not tripped or action.always:
        action.after(previous, self.step, logs)
      tripped = tripped or action.tripped
    self.tripped = tripped

  def on_train_end(self, logs=None):
    for action in self.actions:
      if not self.tripped or action.always:  # a rejected round is rolled back, not ended
        action.end(self.step)


def _lr(optimizer):
  opt = getattr(optimizer, "inner_optimizer", optimizer)
  return float(np.ravel(keras.ops.convert_to_numpy(opt.learning_rate))[0])


def duration(seconds: float) -> str:
  """'1h02m', '3m07s', '12s': a log line's elapsed time and ETA."""
  seconds = int(round(max(seconds, 0)))
  hours, rest = divmod(seconds, 3600)
  minutes, secs = divmod(rest, 60)
  if hours:
    return f"{hours}h{minutes:02d}m"
  return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class StepLogger(Action):
  """Every `every` steps: logs interval means of losses, D(x), D(G(z)), images/s, learning
  rates, the epoch (when `num_examples` is known, > 0) and an ETA to `total_steps`.

  ETA = remaining steps * global batch / a smoothed images/s: the interval rates' moving
  average with weight SMOOTHING on the past (the first interval, which includes tracing
  and compilation, is replaced by the second). Elapsed time counts from the first fit of
  this process.
  """

  SMOOTHING = 0.7  # in [0, 1): 0 = the last interval's rate alone

  def __init__(self, gan, writer, every, global_batch, total_steps, num_examples=0):
    super().__init__()
    self.gan, self.writer, self.every = gan, writer, every
    self.global_batch, self.total_steps = global_batch, total_steps
    self.num_examples = num_examples or 0
    self.last_logged = None
    self.t_start = None
    self.rate, self.intervals = None, 0  # smoothed images/s over `intervals` intervals
    self._logs = None  # the last round's logs (end() logs them if unlogged)

  def begin(self, step):
    self.last_logged = step
    self.t0 = time.perf_counter()
    if self.t_start is None:
      self.t_start = self.t0

  def after(self, previous, step, logs):
    self._logs = logs
    if not crossed(previous, step, self.every) and step < self.total_steps:
      return
    self._write(step, logs)

  def end(self, step):
    # A fit can end off a period (a short round of fit_steps, a signal, a rollback): log
    # what its unlogged steps did, since the next fit resets the trackers.
    if self.last_logged is not None and step > self.last_logged and self._logs is not None:
      self._write(step, self._logs)

  def _write(self, step, logs):
    now = time.perf_counter()
    values = dict(logs)
    rate = (step - self.last_logged) * self.global_batch / max(now - self.t0, 1e-9)
    self.intervals += 1
    self.rate = rate if self.intervals <= 2 else (
        self.SMOOTHING * self.rate + (1 - self.SMOOTHING) * rate)
    values["images_per_s"] = rate
    values["g_lr"] = _lr(self.gan.g_optimizer)
    values["d_lr"] = _lr(self.gan.d_optimizer)
    values["eta_s"] = (self.total_steps - step) * self.global_batch / max(self.rate, 1e-9)
    if self.num_examples:
      values["epoch"] = step * self.global_batch / self.num_examples
    with self.writer.as_default(step=step):
      for name, value in values.items():
        tf.summary.scalar(name, value)
    self.writer.flush()
    epoch = f" (epoch {values['epoch']:.2f})" if "epoch" in values else ""
    logging.info("step %d/%d%s  elapsed %s  eta %s  %s", step, self.total_steps, epoch,
                 duration(now - self.t_start), duration(values["eta_s"]),
                 "  ".join(f"{k}={v:.4g}" for k, v in values.items()
                           if k not in ("eta_s", "epoch")))
    self.last_logged, self.t0 = step, now
    # The trackers are running means over the whole fit(); reset them so each logged
    # value is the mean over its own `every`-step interval, not since step 0.
    for metric in self.gan.metrics:
      metric.reset_state()


class SampleGrid(Action):
  """Every `every` steps (and at the end): fixed-noise grid of `generator` (G, or the EMA
  G) to TensorBoard and samples/*.png."""

  def __init__(self, gan, generator, writer, fixed_noise, fixed_labels, every, workdir):
    super().__init__()
    self.gan, self.generator, self.writer = gan, generator, writer
    self.every, self.workdir = every, workdir  # workdir: where samples/ is (a Workdir)
    self.fixed_noise, self.fixed_labels = fixed_noise, fixed_labels

  def write(self):
    step = int(self.gan.step.numpy())
    fake = self.generator(self.fixed_noise, self.fixed_labels, training=False)
    tile = images_lib.grid(images_lib.to_uint8(fake).numpy())
    with self.writer.as_default(step=step):
      tf.summary.image("samples", tile[None], step=step)
    self.writer.flush()
    return images_lib.save_png(tile, self.workdir.sample_png(step))

  def after(self, previous, step, logs):
    if crossed(previous, step, self.every):
      self.write()


class Checkpointer(Action):
  """Every `every` steps: a checkpoint of the run (checkpoints.RunCheckpoints.save: finite
  weights only; write errors raise UserError, older checkpoints kept)."""

  def __init__(self, run_checkpoints, every):
    super().__init__()
    self.checkpoints, self.every = run_checkpoints, every

  def after(self, previous, step, logs):
    if crossed(previous, step, self.every):
      self.checkpoints.save()
