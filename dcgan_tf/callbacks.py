"""Keras callbacks: step log + TensorBoard scalars, sample grids, checkpoints.

All of them key off `gan.step` (generator steps taken, continuous across
resumes), never Keras' per-fit batch counter, and write TensorBoard eagerly
with that explicit step: `tf.summary` inside `train_step` would land at step 1.
"""

import os
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from dcgan_tf import images as images_lib


def _scalar(value):
  return float(np.ravel(np.asarray(value))[0])


def _lr(optimizer):
  opt = getattr(optimizer, "inner_optimizer", optimizer)
  return _scalar(keras.ops.convert_to_numpy(opt.learning_rate))


class StepLogger(keras.callbacks.Callback):
  """Every `every` steps: logs losses, D(x), D(G(z)), images/s and learning rates."""

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


class Checkpointer(keras.callbacks.Callback):
  """Saves a checkpoint every `every` steps (checkpoint number = step)."""

  def __init__(self, gan, manager, every):
    super().__init__()
    self.gan, self.manager, self.every = gan, manager, every

  def save(self):
    step = int(self.gan.step.numpy())
    if self.manager.latest_checkpoint and self.manager.latest_checkpoint.endswith(f"-{step}"):
      return self.manager.latest_checkpoint  # already saved at this step
    path = self.manager.save(checkpoint_number=step)
    logging.info("Saved checkpoint %s", path)
    return path

  def on_train_batch_end(self, batch, logs=None):
    if int(self.gan.step.numpy()) % self.every == 0:
      self.save()
