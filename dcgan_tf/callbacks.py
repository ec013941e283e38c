"""Keras callbacks: step log + TensorBoard scalars, sample grids, checkpoints, and the
fault handling of a run: non-finite guard, clean stop on SIGINT/SIGTERM, NaN injection.

All of them key off `gan.step` (generator steps taken, continuous across
resumes), never Keras' per-fit batch counter, and write TensorBoard eagerly
with that explicit step: `tf.summary` inside `train_step` would land at step 1.

Order matters in the callback list: InjectNaN (tests only), NonFiniteGuard,
then the others, then Checkpointer, so a step the guard rejects is never saved.
"""

import math
import os
import signal
import threading
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from dcgan_tf import checkpoint as ckpt_lib
from dcgan_tf import images as images_lib


def _scalar(value):
  return float(np.ravel(np.asarray(value))[0])


def _lr(optimizer):
  opt = getattr(optimizer, "inner_optimizer", optimizer)
  return _scalar(keras.ops.convert_to_numpy(opt.learning_rate))


class StepLogger(keras.callbacks.Callback):
  """Every `every` steps: logs interval means of losses, D(x), D(G(z)), images/s and learning rates."""

  def __init__(self, gan, writer, every, global_batch, total_steps):
    super().__init__()
    self.gan, self.writer, self.every = gan, writer, every
    self.global_batch, self.total_steps = global_batch, total_steps
    self.last_logged = None
    self.history = []  # (step, {name: value}) rows, for callers and tests

  def on_train_begin(self, logs=None):
    self.last_logged = int(self.gan.step.numpy())
    self.t0 = time.perf_counter()

  def on_train_batch_end(self, batch, logs=None):
    step = int(self.gan.step.numpy())
    if step - self.last_logged < self.every and step < self.total_steps:
      return
    now = time.perf_counter()
    values = {k: _scalar(v) for k, v in (logs or {}).items()}
    values["images_per_s"] = (step - self.last_logged) * self.global_batch / max(now - self.t0, 1e-9)
    values["g_lr"] = _lr(self.gan.g_optimizer)
    values["d_lr"] = _lr(self.gan.d_optimizer)
    with self.writer.as_default(step=step):
      for name, value in values.items():
        tf.summary.scalar(name, value)
    self.writer.flush()
    self.history.append((step, values))
    logging.info("step %d/%d  %s", step, self.total_steps,
                 "  ".join(f"{k}={v:.4g}" for k, v in values.items()))
    self.last_logged, self.t0 = step, now
    # The trackers are running means over the whole fit(); reset them so each logged
    # value is the mean over its own `every`-step interval, not since step 0.
    for metric in self.gan.metrics:
      metric.reset_state()


class SampleGrid(keras.callbacks.Callback):
  """Every `every` steps (and at the end): fixed-noise grid to TensorBoard and samples/*.png."""

  def __init__(self, gan, writer, fixed_noise, fixed_labels, every, sample_dir):
    super().__init__()
    self.gan, self.writer, self.every, self.sample_dir = gan, writer, every, sample_dir
    self.fixed_noise, self.fixed_labels = fixed_noise, fixed_labels

  def write(self):
    step = int(self.gan.step.numpy())
    fake = self.gan.generate(self.fixed_noise, self.fixed_labels, training=False)
    tile = images_lib.grid(images_lib.to_uint8(fake).numpy())
    with self.writer.as_default(step=step):
      tf.summary.image("samples", tile[None], step=step)
    self.writer.flush()
    path = images_lib.save_png(tile, os.path.join(self.sample_dir, f"step_{step:07d}.png"))
    return path

  def on_train_batch_end(self, batch, logs=None):
    if int(self.gan.step.numpy()) % self.every == 0:
      self.write()


class NonFiniteGuard(keras.callbacks.Callback):
  """Stops fit at the first non-finite loss or metric and records the step; train_lib
  then rolls back to the last checkpoint.

  Keras' Mean trackers average over one fit call, so a single NaN step keeps every
  later log NaN: checking each step's logs finds the step it happened at.
  """

  def __init__(self, gan):
    super().__init__()
    self.gan = gan
    self.reset()

  def reset(self):
    self.step, self.what = None, ""  # step: first bad generator step, None = all finite

  @property
  def tripped(self):
    return self.step is not None

  def trip(self, step, what):
    if not self.tripped:
      self.step, self.what = step, what
      logging.warning("Non-finite %s at step %d: stopping to roll back", what, step)
    self.gan.stop_training = True

  def on_train_batch_end(self, batch, logs=None):
    bad = sorted(k for k, v in (logs or {}).items() if not math.isfinite(_scalar(v)))
    if bad:
      self.trip(int(self.gan.step.numpy()), "loss (" + ", ".join(bad) + ")")


class Checkpointer(keras.callbacks.Callback):
  """Saves a checkpoint every `every` steps (checkpoint number = step), finite ones only.

  Before each save every checkpointed variable is checked: a NaN/Inf trips `guard`
  instead of being written, so the newest checkpoint is always a good one to roll
  back to. Write errors raise ckpt_lib.RunError (one line, older checkpoints kept).
  """

  def __init__(self, gan, manager, every, guard, variables):
    super().__init__()
    self.gan, self.manager, self.every, self.guard = gan, manager, every, guard
    self.variables = variables  # ckpt_lib.saved_variables(...)
    self.last_step, self.last_path = None, None  # newest good checkpoint: saved or restored

  def mark_saved(self, path):
    """Records a checkpoint the weights already equal (just restored)."""
    self.last_step, self.last_path = ckpt_lib.step_of(path), path

  def save(self):
    """Checkpoint of the current step; None (guard tripped) when anything is non-finite."""
    if self.guard.tripped:
      return None
    step = int(self.gan.step.numpy())
    if step == self.last_step:
      return self.last_path  # already saved (or restored) at this step
    bad = ckpt_lib.nonfinite_variables(self.variables)
    if bad:
      more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
      self.guard.trip(step, f"weights ({bad[0]}{more})")
      return None
    self.last_path = ckpt_lib.save(self.manager, step, previous=self.last_path)
    self.last_step = step
    return self.last_path

  def on_train_batch_end(self, batch, logs=None):
    if int(self.gan.step.numpy()) % self.every == 0:
      self.save()


class SignalStop(keras.callbacks.Callback):
  """SIGINT / SIGTERM: let the current step finish, then stop fit (train_lib saves a
  checkpoint and returns). Use as `with SignalStop() as stop:` around training.

  The first signal only sets `signum`; the previous handlers come back at once, so
  a second Ctrl-C (or SIGTERM) interrupts immediately, as without this class. A
  checkpoint write is atomic (temp folder + rename), so that loses nothing already
  saved. Handlers can only be set from the main thread; elsewhere this is a no-op.
  """

  SIGNALS = (signal.SIGINT, signal.SIGTERM)

  def __init__(self):
    super().__init__()
    self.signum = None  # the signal received, None = keep training
    self._previous = {}

  @property
  def signal_name(self):
    return signal.Signals(self.signum).name if self.signum else None

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
    return self

  def __exit__(self, *exc):
    self._restore()
    return False

  def _restore(self):
    for s, handler in self._previous.items():
      signal.signal(s, handler)
    self._previous = {}

  def _handle(self, signum, frame):
    del frame
    self.signum = signum
    self._restore()
    logging.warning("%s received: finishing the current step, then saving a checkpoint "
                    "(send it again to abort at once)", self.signal_name)

  def on_train_batch_end(self, batch, logs=None):
    if self.signum is not None:
      self.model.stop_training = True


class InjectNaN(keras.callbacks.Callback):
  """Testing aid (--debug_nan_step): after generator step `step`, fills G's first weight
  with NaN, as a diverging run would; fires at most `times` times per process (a
  rollback passes the step again)."""

  def __init__(self, gan, step, times):
    super().__init__()
    self.gan, self.step, self.times, self.fired = gan, step, times, 0

  def on_train_batch_end(self, batch, logs=None):
    if int(self.gan.step.numpy()) == self.step and self.fired < self.times:
      self.fired += 1
      weight = self.gan.generator.trainable_variables[0]
      weight.assign(tf.fill(weight.shape, float("nan")))
      logging.warning("--debug_nan_step: wrote NaN into %s after step %d (%d of %d)",
                      ckpt_lib.variable_name(weight), self.step, self.fired, self.times)
