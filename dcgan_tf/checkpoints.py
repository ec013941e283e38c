"""Checkpoints: tf.train.CheckpointManager over G, D, both optimizers, step and fixed noise.

Files: WORKDIR/checkpoints/ckpt-STEP.{index,data-*}, STEP = generator steps taken.
TensorFlow writes each to a ckpt-STEP_temp folder and renames it into place, then
rewrites the `checkpoint` state file (also by rename), so a crash or `kill -9`
during a save leaves the previous checkpoints readable.

Every network variable is saved under its layer path, because the networks hold
their layers as named attributes (models/): `generator/up1/deconv/kernel`,
`generator/up1/bn/moving_mean`, `discriminator/down0/conv/kernel`, the EMA generator's
`ema_generator/up1/deconv/kernel`; the optimizers' own variables (iterations, slots, loss
scale) as `g_optimizer/state/N` in Keras' order; then `step` and `fixed_noise`.
`tf.train.list_variables(path)` shows them. Training writes them (train/); evaluate,
sample and export read the networks back (inference.py, restore_networks).

Faults handled here:
  - restore: the newest readable checkpoint wins; unreadable ones (truncated .data,
    corrupt .index, listed in the state file but missing) are skipped with a warning.
    A checkpoint of other networks (another shape or variant) is refused in one line.
  - save: nothing non-finite is written (`nonfinite_variables` is checked by the
    caller first); a failing write (read-only or full disk) raises UserError naming
    the file and the previous checkpoint, which is left as it was.
"""

import os
import shutil

import keras
import tensorflow as tf
from absl import logging

from dcgan_tf.errors import UserError, error_text
from dcgan_tf.workdir import CHECKPOINT_NAME, Workdir


def optimizer_state(optimizer) -> tf.train.Checkpoint:
  """An optimizer's own variables (iterations, learning rate, slots, loss scale), in
  Keras' order, without its references to the weights it trains.

  A checkpoint names each variable by the shortest path to it: saving the Keras
  optimizer itself would name every weight `g_optimizer/_trainable_variables/N`
  (a position) instead of its layer path.
  """
  return tf.train.Checkpoint(state=list(optimizer.variables))


def make_checkpoint(gan, fixed_noise) -> tf.train.Checkpoint:
  """The training checkpoint of a compiled GAN: networks (and the EMA generator when there
  is one), optimizers, step, fixed noise."""
  ema = {"ema_generator": gan.ema_generator} if gan.ema_generator is not None else {}
  return tf.train.Checkpoint(generator=gan.generator, discriminator=gan.discriminator,
                             g_optimizer=optimizer_state(gan.g_optimizer),
                             d_optimizer=optimizer_state(gan.d_optimizer),
                             step=gan.step, fixed_noise=fixed_noise, **ema)


def make_manager(checkpoint, workdir: Workdir, max_to_keep=3) -> tf.train.CheckpointManager:
  return tf.train.CheckpointManager(checkpoint, workdir.checkpoint_dir, max_to_keep=max_to_keep,
                                    checkpoint_name=CHECKPOINT_NAME)


def saved_variables(gan, fixed_noise):
  """Every variable the training checkpoint holds (weights, BN statistics, optimizer
  slots, loss scale, step, fixed noise): what must be finite before a save."""
  ema = list(gan.ema_generator.variables) if gan.ema_generator is not None else []
  return (list(gan.generator.variables) + list(gan.discriminator.variables) + ema
          + list(gan.g_optimizer.variables) + list(gan.d_optimizer.variables) + [fixed_noise])


def variable_name(variable):
  return getattr(variable, "path", None) or variable.name


def nonfinite_variables(variables):
  """Names of the floating-point variables holding a NaN or +-Inf ([] when all are finite)."""
  floats = [v for v in variables if keras.backend.is_float_dtype(v.dtype)]
  if not floats:
    return []
  finite = tf.stack([tf.reduce_all(tf.math.is_finite(tf.convert_to_tensor(v))) for v in floats])
  return [variable_name(v) for v, ok in zip(floats, finite.numpy()) if not ok]


def _restore(checkpoint, path):
  """Restores `path` into `checkpoint`; every object of it must find its values.

  Raises UserError when the file holds other networks (missing variables, or a
  shape that differs), so that nobody resumes or evaluates half-restored weights.
  """
  try:
    status = checkpoint.restore(path)
    status.assert_existing_objects_matched()
  except (AssertionError, ValueError) as e:
    raise UserError(f"--checkpoint: {path} does not hold these networks (another --variant, "
                    f"--image_size or width?): {error_text(e)}") from None
  return status


def restore_latest(checkpoint, workdir: Workdir):
  """Restores the newest readable checkpoint of `workdir`; falls back to older ones with a
  warning. Returns the path restored, or None when the workdir has no checkpoint.

  Raises UserError when checkpoints exist but none can be restored: starting afresh
  would overwrite them, so the user decides (another --workdir, or --overwrite).
  """
  candidates = workdir.list_checkpoints()
  errors = []
  for i, path in enumerate(candidates):
    try:
      _restore(checkpoint, path)
    except Exception as e:  # noqa: BLE001 - DataLossError, NotFoundError, UserError, ...
      errors.append(f"{os.path.basename(path)}: {type(e).__name__}: {error_text(e)}")
      logging.warning("Checkpoint %s is unreadable (%s)%s", path, errors[-1],
                      "; falling back to the previous one" if i + 1 < len(candidates) else "")
      continue
    if errors:
      logging.warning("Resuming from %s instead of the newest checkpoint %s", path, candidates[0])
    return path
  if candidates:
    raise UserError(f"--workdir: no readable checkpoint in {workdir.checkpoint_dir} (tried "
                    f"{'; '.join(errors)}); move that folder away to keep it, or rerun with "
                    "--overwrite to start afresh")
  return None


def save(manager, step: int, previous: str = None) -> str:
  """Writes checkpoint ckpt-STEP; on a write error raises UserError, older checkpoints intact.

  previous: the last good checkpoint, named in the error (default: the manager's newest).
  """
  previous = previous or manager.latest_checkpoint
  prefix = os.path.join(manager.directory, f"{CHECKPOINT_NAME}-{step}")
  try:
    path = manager.save(checkpoint_number=step)
  except (tf.errors.OpError, OSError) as e:
    # A full disk leaves a partial ckpt-STEP_temp folder behind: free that space again.
    shutil.rmtree(prefix + "_temp", ignore_errors=True)
    kept = f"the previous checkpoint {previous} is intact" if previous else "no checkpoint was kept"
    raise UserError(f"cannot write checkpoint {prefix} at step {step}: {error_text(e)} (read-only "
                    f"or full disk?); {kept}; fix the disk and rerun to resume") from None
  logging.info("Saved checkpoint %s", path)
  return path


def restore_networks(path, **networks) -> int:
  """Restores Keras networks from a training checkpoint, e.g. restore_networks(p,
  generator=G, discriminator=D) (names as in make_checkpoint), and returns its step.

  The optimizers and fixed noise in the file are not wanted here (expect_partial).
  Raises UserError when the networks' variables are not all in it (other architecture).
  """
  step = tf.Variable(0, dtype=tf.int64)
  status = _restore(tf.train.Checkpoint(step=step, **networks), path)
  status.expect_partial()
  return int(step.numpy())
