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

One owner: the checkpoint names (make_checkpoint), which checkpoints a workdir holds
(list_checkpoints, find), a training run's saves with their finite check and its restores
with fallback and rollback (RunCheckpoints), the best evaluated checkpoint and its
best.json (BestCheckpoint), and the networks read back for inference (restore_networks).
Workdir (workdir.py) only names the paths.

Faults handled here:
  - restore: the newest readable checkpoint wins; unreadable ones (truncated .data,
    corrupt .index, listed in the state file but missing) are skipped with a warning.
    A checkpoint of other networks (another shape or variant) is refused in one line.
  - save: nothing non-finite is written (`nonfinite_variables` is checked by the
    caller first); a failing write (read-only or full disk) raises UserError naming
    the file and the previous checkpoint, which is left as it was.
"""

import json
import os
import re
import shutil
from typing import List, Optional

import keras
import tensorflow as tf
from absl import logging

from dcgan_tf import atomic
from dcgan_tf.errors import UserError, error_text
from dcgan_tf.workdir import CHECKPOINT_NAME, Workdir, step_of


class UnreadableCheckpoint(UserError):
  """A checkpoint's files are damaged or missing: restore_latest falls back past it;
  restore_networks (evaluate, sample, export) names the checkpoint in one line."""


# What TensorFlow's checkpoint reader raises for damaged or missing files: DataLoss (a
# corrupt .index), NotFound (a missing .data), OutOfRange / IndexError (a truncated .data:
# "Read less bytes than requested"), Internal, and the plain OpError its error translator
# uses for codes it does not know. Not PermissionDenied, ResourceExhausted (memory),
# Unavailable, ...: those are not the file's fault, and falling back past a good checkpoint
# would resume from an older step.
_DAMAGED = (tf.errors.DataLossError, tf.errors.NotFoundError, tf.errors.OutOfRangeError,
            tf.errors.InternalError, IndexError)


def list_checkpoints(workdir: Workdir) -> List[str]:
  """Checkpoint prefixes of `workdir` with an .index file, newest (highest step) first.

  The folder is listed, not only TensorFlow's state file: that may be missing,
  garbled, or name files that were deleted (warned about here).
  """
  directory = workdir.checkpoint_dir
  if not os.path.isdir(directory):
    return []
  pattern = re.escape(CHECKPOINT_NAME) + r"-\d+\.index"
  on_disk = {os.path.join(directory, f[:-len(".index")]) for f in os.listdir(directory)
             if re.fullmatch(pattern, f)}
  try:
    state = tf.train.get_checkpoint_state(directory)
  except (tf.errors.OpError, ValueError):  # a garbled state file: the folder listing is the truth
    state = None
  listed = {os.path.join(directory, os.path.basename(p))
            for p in (state.all_model_checkpoint_paths if state else [])}
  for path in sorted(listed - on_disk, key=step_of):
    logging.warning("Checkpoint %s is listed in %s but its files are missing; skipping it",
                    path, os.path.join(directory, "checkpoint"))
  return sorted(on_disk, key=step_of, reverse=True)


def find(workdir: Workdir, which: str = "") -> str:
  """'' -> the newest checkpoint; 'N' -> ckpt-N; anything else: a checkpoint path prefix.

  Raises UserError naming the workdir field (no checkpoint yet) or the checkpoint field (no
  such checkpoint, with the available ones).
  """
  available = list_checkpoints(workdir)
  if not which:
    if not available:
      raise UserError(f"no checkpoint in {workdir.checkpoint_dir}; train first", "workdir")
    return available[0]
  path = workdir.checkpoint_prefix(int(which)) if re.fullmatch(r"\d+", which) else which
  if not os.path.isfile(path + ".index"):
    names = ", ".join(os.path.basename(p) for p in available) or "none"
    raise UserError(f"no checkpoint {path!r}; available in {workdir.checkpoint_dir}: {names} "
                    "(give a step number or a path)", "checkpoint")
  return path


def optimizer_state(optimizer) -> tf.train.Checkpoint:
  """An optimizer's own variables (iterations, learning rate, slots, loss scale), in
  Keras' order, without its references to the weights it trains.

  A checkpoint names each variable by the shortest path to it: saving the Keras
  optimizer itself would name every weight `g_optimizer/_trainable_variables/N`
  (a position) instead of its layer path.
  """
  return tf.train.Checkpoint(state=list(optimizer.variables))


def make_checkpoint(gan, fixed_noise, optional=True) -> tf.train.Checkpoint:
  """The training checkpoint of a compiled GAN: networks (and the EMA generator when there
  is one), optimizers, step, fixed noise, and (optional=True) the adaptive augmentation
  probability, which a checkpoint written with a fixed p lacks (restore_optional)."""
  extra = {"ema_generator": gan.ema_generator} if gan.ema_generator is not None else {}
  if gan.adaptive_augment and optional:
    extra["augment_p"] = gan.augment_p
  return tf.train.Checkpoint(generator=gan.generator, discriminator=gan.discriminator,
                             g_optimizer=optimizer_state(gan.g_optimizer),
                             d_optimizer=optimizer_state(gan.d_optimizer),
                             step=gan.step, fixed_noise=fixed_noise, **extra)


def make_manager(checkpoint, workdir: Workdir, max_to_keep=3) -> tf.train.CheckpointManager:
  return tf.train.CheckpointManager(checkpoint, workdir.checkpoint_dir, max_to_keep=max_to_keep,
                                    checkpoint_name=CHECKPOINT_NAME)


def saved_variables(gan, fixed_noise):
  """Every variable the training checkpoint holds (weights, BN statistics, optimizer
  slots, loss scale, step, fixed noise): what must be finite before a save."""
  ema = list(gan.ema_generator.variables) if gan.ema_generator is not None else []
  ada = [gan.augment_p] if gan.adaptive_augment else []
  return (list(gan.generator.variables) + list(gan.discriminator.variables) + ema + ada
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
  except _DAMAGED as e:
    raise UnreadableCheckpoint(f"{type(e).__name__}: {error_text(e)}") from e
  except tf.errors.OpError as e:
    if type(e) is not tf.errors.OpError:  # PermissionDenied, ResourceExhausted, ...
      raise
    raise UnreadableCheckpoint(error_text(e)) from e
  except (AssertionError, ValueError) as e:  # missing variables, or a shape that differs
    raise UserError(f"{path} does not hold these networks (another variant, image_size or "
                    f"width?): {error_text(e)}", "checkpoint") from None
  return status


def restore_latest(checkpoint, workdir: Workdir):
  """Restores the newest readable checkpoint of `workdir`; falls back to older ones with a
  warning. Returns the path restored, or None when the workdir has no checkpoint.

  Raises UserError when checkpoints exist but none can be restored: starting afresh
  would overwrite them, so the user decides (another workdir, or overwrite).
  """
  candidates = list_checkpoints(workdir)
  errors = []
  for i, path in enumerate(candidates):
    try:
      _restore(checkpoint, path)
    except UserError as e:  # damaged files (UnreadableCheckpoint), or other networks
      errors.append(f"{os.path.basename(path)}: {e.message}")
      logging.warning("Checkpoint %s is unreadable (%s)%s", path, errors[-1],
                      "; falling back to the previous one" if i + 1 < len(candidates) else "")
      continue
    if errors:
      logging.warning("Resuming from %s instead of the newest checkpoint %s", path, candidates[0])
    return path
  if candidates:
    raise UserError(f"no readable checkpoint in {workdir.checkpoint_dir} (tried "
                    f"{'; '.join(errors)}); move that folder away to keep it, or rerun with "
                    "--overwrite to start afresh", "workdir")
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
  Raises UserError when the networks' variables are not all in it (other architecture) or
  its files are damaged.
  """
  step = tf.Variable(0, dtype=tf.int64)
  try:
    status = _restore(tf.train.Checkpoint(step=step, **networks), path)
  except UnreadableCheckpoint as e:
    raise UserError(f"{path} is unreadable ({e.message}); pick another checkpoint=STEP",
                    "checkpoint") from None
  status.expect_partial()
  return int(step.numpy())


class RunCheckpoints:
  """A training run's checkpoints: every save checked finite, restores with fallback.

  read_dir: the run's workdir (every worker restores the chief's checkpoints; it must be
  on a shared filesystem); write_dir: where this process writes (the workdir on the
  chief, a throwaway folder on other workers: train/distribute.py). guard: the run's
  faults.NonFiniteGuard; a save that finds a NaN/Inf trips it instead of writing, so the
  newest checkpoint is always a good one to roll back to.
  """

  def __init__(self, gan, fixed_noise, read_dir: Workdir, write_dir: Workdir, keep: int, guard):
    self.gan, self.guard, self.read_dir, self.write_dir = gan, guard, read_dir, write_dir
    self.checkpoint = make_checkpoint(gan, fixed_noise)  # what a save writes
    self.required = make_checkpoint(gan, fixed_noise, optional=False)  # what a restore needs
    self.manager = make_manager(self.checkpoint, write_dir, keep)
    self.variables = saved_variables(gan, fixed_noise)
    self.last_step, self.last_path = None, None  # newest good checkpoint: saved or restored

  def restore(self) -> Optional[str]:
    """Restores the newest readable checkpoint (restore_latest); returns its path, None
    when there is none. The weights then equal it: a save at its step writes nothing."""
    path = restore_latest(self.required, self.read_dir)
    if path is not None:
      self.last_step, self.last_path = step_of(path), path
      self.restore_optional(path)
    return path

  def restore_optional(self, path: str) -> None:
    """The adaptive augmentation probability from `path` when it holds one; a run trained
    with a fixed p (or before p existed) goes on from p = 0, as a new run starts."""
    if not self.gan.adaptive_augment:
      return
    if tf.train.load_checkpoint(path).has_tensor("augment_p/.ATTRIBUTES/VARIABLE_VALUE"):
      tf.train.Checkpoint(augment_p=self.gan.augment_p).restore(path).expect_partial()
    else:
      logging.warning("%s holds no adaptive augment_p (trained with a fixed one): p starts "
                      "at 0", path)
      self.gan.augment_p.assign(0.0)

  def save(self) -> Optional[str]:
    """Checkpoint of the current step; None (guard tripped) when anything is non-finite."""
    if self.guard.tripped:
      return None
    step = int(self.gan.step.numpy())
    if step == self.last_step:
      return self.last_path  # already saved (or restored) at this step
    bad = nonfinite_variables(self.variables)
    if bad:
      more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
      self.guard.trip(step, f"weights ({bad[0]}{more})")
      return None
    self.last_path = save(self.manager, step, previous=self.last_path)
    self.last_step = step
    return self.last_path

  def run_path(self, path: Optional[str]) -> Optional[str]:
    """`path` as the run's copy: a non-chief's own copy is thrown away, the chief's stays."""
    if path is None or self.write_dir.path == self.read_dir.path:
      return path
    return self.read_dir.checkpoint_prefix(step_of(path))


def read_best(workdir: Workdir) -> Optional[dict]:
  """checkpoints/best/best.json as a dict, or None before the first evaluation."""
  if not os.path.isfile(workdir.best_json_path):
    return None
  with open(workdir.best_json_path) as f:
    return json.load(f)


class BestCheckpoint:
  """checkpoints/best/: the best evaluated checkpoint (one, never rotated away) and
  best.json, its record (step, metric, value, ...; `checkpoint` relative to checkpoints/)."""

  def __init__(self, checkpoint, workdir: Workdir):
    self.workdir = workdir
    self.manager = tf.train.CheckpointManager(checkpoint, workdir.best_checkpoint_dir,
                                              max_to_keep=1, checkpoint_name=CHECKPOINT_NAME)
    self.record = read_best(workdir)  # a resumed run goes on from its best so far

  def save(self, step: int, record: dict) -> dict:
    """Writes the checkpoint of `step`, then best.json = record + its path; returns that."""
    path = self.manager.save(checkpoint_number=step)
    self.record = dict(record, step=step,
                       checkpoint=os.path.relpath(path, self.workdir.checkpoint_dir))
    atomic.write_text(self.workdir.best_json_path,
                      json.dumps(self.record, indent=2, sort_keys=True))
    return self.record
