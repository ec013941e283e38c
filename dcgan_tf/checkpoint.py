"""Checkpoints: tf.train.CheckpointManager over G, D, both optimizers, step and fixed noise."""

import os

import tensorflow as tf
from absl import logging


def checkpoint_dir(workdir):
  return os.path.join(workdir, "checkpoints")


def make_manager(gan, fixed_noise, workdir, max_to_keep=3):
  """Returns (tf.train.Checkpoint, tf.train.CheckpointManager) for a compiled GAN."""
  ckpt = tf.train.Checkpoint(generator=gan.generator, discriminator=gan.discriminator,
                             g_optimizer=gan.g_optimizer, d_optimizer=gan.d_optimizer,
                             step=gan.step, fixed_noise=fixed_noise)
  manager = tf.train.CheckpointManager(ckpt, checkpoint_dir(workdir), max_to_keep=max_to_keep,
                                       checkpoint_name="ckpt")
  return ckpt, manager


def restore_latest(ckpt, manager):
  """Restores the newest readable checkpoint; falls back to older ones with a warning.

  Returns the path restored, or None when the workdir has no checkpoint.
  """
  candidates = list(reversed(manager.checkpoints))
  for i, path in enumerate(candidates):
    try:
      ckpt.restore(path).assert_existing_objects_matched()
    except Exception as e:  # tf raises DataLossError, NotFoundError, ValueError, ...
      first = (str(e).strip().splitlines() or [type(e).__name__])[0]
      logging.warning("Checkpoint %s is unreadable (%s: %s)%s", path, type(e).__name__, first[:200],
                      "; trying the previous one" if i + 1 < len(candidates) else "")
      continue
    return path
  if candidates:
    raise ValueError(f"No readable checkpoint in {manager.directory}: all of "
                     f"{', '.join(os.path.basename(c) for c in candidates)} failed to restore")
  return None


def restore_generator(generator, workdir, checkpoint=None):
  """Restores only G's weights (for export / sampling). Returns (path, step)."""
  directory = checkpoint_dir(workdir)
  path = checkpoint or tf.train.latest_checkpoint(directory)
  if not path:
    raise FileNotFoundError(f"--workdir: no checkpoint in {directory}; train first")
  step = tf.Variable(0, dtype=tf.int64)
  tf.train.Checkpoint(generator=generator, step=step).restore(path).expect_partial()
  return path, int(step.numpy())
