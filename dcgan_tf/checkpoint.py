"""Checkpoints: tf.train.CheckpointManager over G, D, both optimizers, step and fixed noise.

Checkpoint files are WORKDIR/checkpoints/ckpt-STEP.{index,data-*}, STEP = generator
steps taken. TensorFlow writes each to a ckpt-STEP_temp folder and renames it into
place, then rewrites the `checkpoint` state file (also by rename), so a crash or
`kill -9` during a save leaves the previous checkpoints readable.

What is saved: the GAN's networks AND an explicit {position: variable} dict per
network (`generator_variables`, `discriminator_variables`; see variables_in_order). Keras 3 layers kept in
Python lists (models/dcgan.py's blocks) are invisible to tf.train.Checkpoint's object
graph: without the dicts, trainable weights survive only through the optimizers'
references and batch-norm moving statistics are not saved at all. Checkpoints
without matching dicts ("legacy": written by an older dcgan_tf) still restore through
the networks and optimizers, with a warning that batch-norm statistics restart.

Faults handled here:
  - restore: the newest readable checkpoint wins; unreadable ones (truncated .data,
    corrupt .index, listed in the state file but missing) are skipped with a warning.
    Checkpoints are found from the state file AND by listing the folder, so a lost
    or garbled state file does not silently restart a run.
  - save: nothing non-finite is written (`nonfinite_variables` is checked by the
    caller first); a failing write (read-only or full disk) raises RunError naming the
    file and the previous checkpoint, which is left as it was.
"""

import os
import re
import shutil

import keras
import tensorflow as tf
from absl import logging

CHECKPOINT_NAME = "ckpt"  # file prefix: ckpt-STEP
# Checkpoint names of the networks and of the optimizer that holds each one's trainable
# weights (in a legacy checkpoint, the only place they are).
OPTIMIZER_OF = {"generator": "g_optimizer", "discriminator": "d_optimizer"}


class RunError(RuntimeError):
  """The run cannot go on (unwritable checkpoint, diverged training, no readable checkpoint).

  The message is one line that names the file, flag or step involved and what to do;
  the CLI prints it without a traceback.
  """


def checkpoint_dir(workdir):
  return os.path.join(workdir, "checkpoints")


def variables_in_order(model):
  """{"0000": variable, "0001": ...}: every variable of `model` (weights, BN statistics,
  dropout seed states) keyed by its position in model.variables.

  Positions, not Keras paths: unnamed layers get process-wide counters in their
  paths (seed_generator_3 in one process, seed_generator_0 in the next), while the
  creation order is fixed by the architecture. Restoring checks every shape, and
  the workdir's identity fields keep the architecture fixed.
  """
  return {f"{i:04d}": v for i, v in enumerate(model.variables)}


def _with_variable_dicts(**networks):
  """Checkpoint kwargs: each network plus its `NAME_variables` dict (see module doc)."""
  kwargs = dict(networks)
  kwargs.update({f"{name}_variables": variables_in_order(m) for name, m in networks.items()})
  return kwargs


def _restore_checked(checkpoint, path, make_legacy_checkpoint):
  """Restores `path`, asserts every object found its values, returns the load status.

  When the variable dicts do not match, retries with make_legacy_checkpoint() (the
  same objects without the dicts); its AssertionError (another architecture) is raised.
  """
  status = checkpoint.restore(path)
  try:
    return status.assert_existing_objects_matched()
  except AssertionError:
    status.expect_partial()  # no "unrestored values" warnings from this attempt
  status = make_legacy_checkpoint().restore(path).assert_existing_objects_matched()
  logging.warning("%s predates complete checkpoints: its batch-norm moving statistics were not "
                  "saved and start from their initial values (everything else is restored)", path)
  return status


def make_manager(gan, fixed_noise, workdir, max_to_keep=3):
  """Returns (tf.train.Checkpoint, tf.train.CheckpointManager) for a compiled GAN."""
  ckpt = tf.train.Checkpoint(
      g_optimizer=gan.g_optimizer, d_optimizer=gan.d_optimizer, step=gan.step,
      fixed_noise=fixed_noise,
      **_with_variable_dicts(generator=gan.generator, discriminator=gan.discriminator))
  manager = tf.train.CheckpointManager(ckpt, checkpoint_dir(workdir), max_to_keep=max_to_keep,
                                       checkpoint_name=CHECKPOINT_NAME)
  return ckpt, manager


def saved_variables(gan, fixed_noise):
  """Every variable make_manager's checkpoint holds (weights, BN statistics, optimizer slots,
  loss scale, step, fixed noise): what must be finite before a save."""
  return (list(gan.generator.variables) + list(gan.discriminator.variables)
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


# TensorFlow decorates op errors: "{{function_node __wrapped__SaveV2...}} PATH; Reason [Op:SaveV2]".
_TF_DECORATION = re.compile(r"\{\{[^}]*\}\}\s*|\s*\[Op:[^\]]*\]")


def error_text(error: BaseException) -> str:
  """The first line of an exception's message without TensorFlow's op decorations."""
  text = getattr(error, "message", None) or str(error)
  text = _TF_DECORATION.sub("", str(text)).strip()
  return text.splitlines()[0][:300] if text else type(error).__name__


def step_of(path) -> int:
  """ckpt-123 (any folder) -> 123; -1 when the name carries no step."""
  match = re.search(r"-(\d+)$", os.path.basename(path or ""))
  return int(match.group(1)) if match else -1


def list_checkpoints(manager):
  """Checkpoint prefixes with an .index file, newest (highest step) first.

  Merges the state file's list with the folder's ckpt-*.index files: the state file
  may be missing, garbled (TF then ignores it) or name files that were deleted.
  """
  directory = manager.directory
  listed = set(manager.checkpoints)
  on_disk = set()
  if tf.io.gfile.isdir(directory):
    on_disk = {os.path.join(directory, f[:-len(".index")]) for f in tf.io.gfile.listdir(directory)
               if re.fullmatch(re.escape(CHECKPOINT_NAME) + r"-\d+\.index", f)}
  for path in sorted(listed - on_disk, key=step_of):
    logging.warning("Checkpoint %s is listed in %s but its files are missing; skipping it",
                    path, os.path.join(directory, "checkpoint"))
  return sorted(on_disk, key=step_of, reverse=True)


def restore_latest(ckpt, manager):
  """Restores the newest readable checkpoint; falls back to older ones with a warning.

  Returns the path restored, or None when the workdir has no checkpoint. Raises
  RunError when checkpoints exist but none can be restored: starting afresh would
  overwrite them, so the user decides (another --workdir, or --overwrite).
  """
  candidates = list_checkpoints(manager)
  errors = []
  for i, path in enumerate(candidates):
    try:
      # Every object must find its values: a checkpoint of other networks is not a resume.
      _restore_checked(ckpt, path, lambda: tf.train.Checkpoint(**{
          k: getattr(ckpt, k) for k in ("generator", "discriminator", "g_optimizer",
                                        "d_optimizer", "step", "fixed_noise")}))
    except Exception as e:  # DataLossError, NotFoundError, IndexError, AssertionError, ...
      errors.append(f"{os.path.basename(path)}: {type(e).__name__}: {error_text(e)}")
      logging.warning("Checkpoint %s is unreadable (%s)%s", path, errors[-1],
                      "; falling back to the previous one" if i + 1 < len(candidates) else "")
      continue
    if errors:
      logging.warning("Resuming from %s instead of the newest checkpoint %s", path, candidates[0])
    return path
  if candidates:
    raise RunError(f"--workdir: no readable checkpoint in {manager.directory} (tried "
                   f"{'; '.join(errors)}); move that folder away to keep it, or rerun with "
                   "--overwrite to start afresh")
  return None


def check_writable(directory):
  """Writes and removes a file in the existing `directory`, or raises RunError naming it.

  A resumed run calls it at start: a read-only or full disk is reported before the
  data is loaded, not at the first checkpoint hours later.
  """
  probe = os.path.join(directory, ".write_probe")
  try:
    with open(probe, "w") as f:
      f.write("ok")
    os.remove(probe)
  except OSError as e:
    raise RunError(f"--workdir: cannot write to {directory}: {e.strerror} (read-only or full "
                   "disk?); nothing in it was changed") from None


def save(manager, step: int, previous: str = None) -> str:
  """Writes checkpoint ckpt-STEP; on a write error raises RunError, older checkpoints intact.

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
    raise RunError(f"cannot write checkpoint {prefix} at step {step}: {error_text(e)} (read-only "
                   f"or full disk?); {kept}; fix the disk and rerun to resume") from None
  logging.info("Saved checkpoint %s", path)
  return path


def restore_networks(path, **networks) -> int:
  """Restores Keras networks from a training checkpoint, e.g. restore_networks(p,
  generator=G, discriminator=D) (names as in make_manager), and returns its step.

  Use this rather than tf.train.Checkpoint(generator=G): that one silently skips
  every layer kept in a Python list (see module doc). Raises ValueError when a
  network's variables are not all in the checkpoint (other architecture).
  """
  step = tf.Variable(0, dtype=tf.int64)
  checkpoint = tf.train.Checkpoint(step=step, **_with_variable_dicts(**networks))

  def legacy():
    # Trainable weights are only under the optimizers' variable lists there: an optimizer
    # built on the same variables (same order) maps them back.
    shadows = {OPTIMIZER_OF[name]: keras.optimizers.SGD() for name in networks}
    for name, model in networks.items():
      shadows[OPTIMIZER_OF[name]].build(model.trainable_variables)
    return tf.train.Checkpoint(step=step, **networks, **shadows)

  try:
    status = _restore_checked(checkpoint, path, legacy)
  except AssertionError as e:
    raise ValueError(f"--checkpoint: {path} does not hold these networks ({error_text(e)})") \
        from None
  status.expect_partial()  # optimizers, fixed noise, other networks: in the file, not wanted
  return int(step.numpy())


def restore_generator(generator, workdir, checkpoint=None):
  """Restores only G's weights (for export / sampling). Returns (path, step)."""
  directory = checkpoint_dir(workdir)
  path = checkpoint or tf.train.latest_checkpoint(directory)
  if not path:
    raise FileNotFoundError(f"--workdir: no checkpoint in {directory}; train first")
  return path, restore_networks(path, generator=generator)
