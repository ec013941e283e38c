"""train_and_evaluate(config, workdir): data, models, strategy, compile, restore, fit, export.

Workdir layout (everything a run produced):
  config.json        effective Config (identity fields are checked on resume)
  checkpoints/       tf.train.CheckpointManager (G, D, optimizers, step, fixed noise)
  tensorboard/       scalars, sample grids, config text
  samples/           step_NNNNNNN.png fixed-noise grids
  saved_model/       exported generator (uint8 images)

Faults (issue 7; BUILD_NOTES.md has the details):
  kill -9 / crash   rerunning resumes from the newest readable checkpoint: step, weights,
                    optimizer slots and fixed noise; the batch order is reseeded.
  SIGINT / SIGTERM  the current step finishes, a checkpoint is written, the summary says
                    `interrupted` (no export: the run is unfinished).
  NaN / Inf         never checkpointed or exported: roll back to the last checkpoint with a
                    reseeded batch order, at most --max_rollbacks times in a row.
  bad workdir       conflicting config refused (or moved aside with overwrite=True);
                    unwritable checkpoints: ckpt_lib.RunError, older checkpoints intact.
"""

import json
import math
import os
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from dcgan_tf import callbacks as callbacks_lib
from dcgan_tf import checkpoint as ckpt_lib
from dcgan_tf import config as config_lib
from dcgan_tf import data as data_lib
from dcgan_tf import distribute
from dcgan_tf import export as export_lib
from dcgan_tf import models
from dcgan_tf.gan import GAN


def make_optimizer(name, lr, beta_1, beta_2, loss_scale):
  if name == "adam":
    opt = keras.optimizers.Adam(lr, beta_1=beta_1, beta_2=beta_2)
  elif name == "rmsprop":
    opt = keras.optimizers.RMSprop(lr)
  else:
    raise ValueError(f"unknown optimizer {name!r}; valid: {', '.join(config_lib.OPTIMIZERS)}")
  # Keras only wraps `self.optimizer` automatically: wrap each of ours under float16.
  return keras.optimizers.LossScaleOptimizer(opt) if loss_scale else opt


def total_steps(config, num_examples):
  if config.train_steps:
    return config.train_steps
  if num_examples <= 0:
    raise ValueError("--epochs: the dataset's size is unknown; set --train_steps instead")
  return max(1, math.ceil(config.epochs * num_examples / config.batch_size))


def check_inputs(config, workdir):
  """ValueError naming the flag for what config.validate cannot see: paths and test aids."""
  if not workdir:
    raise ValueError("--workdir: empty; give a folder for checkpoints and samples")
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise ValueError(f"--workdir: {workdir!r} is a file, not a folder")
  for name in ("data_dir", "manual_dir"):
    path = getattr(config, name)
    if path and not os.path.isdir(os.path.expanduser(path)):
      raise ValueError(f"--{name}: folder {path!r} does not exist (create it first; empty = "
                       "the default location)")
  if not 0 <= config.seed < 2 ** 32:  # numpy's and Keras' global seeding range
    raise ValueError(f"--seed: must be in [0, 2**32 - 1], got {config.seed}")
  if config.debug_nan_step < 0:
    raise ValueError(f"--debug_nan_step: must be >= 0 (0 = off), got {config.debug_nan_step}")
  if config.debug_nan_times < 1:
    raise ValueError(f"--debug_nan_times: must be >= 1, got {config.debug_nan_times}")


def _saved_config(workdir):
  path = os.path.join(workdir, "config.json")
  if not os.path.isfile(path):
    return None
  try:
    return config_lib.load_json(path)
  except (ValueError, TypeError) as e:  # json.JSONDecodeError is a ValueError
    raise ValueError(f"--workdir: {path} is unreadable ({e}); fix or delete it, or use "
                     "--overwrite to start afresh") from None


def _refuse_conflict(saved, config, workdir):
  conflicts = config_lib.identity_conflicts(saved, config)
  if conflicts:
    name, old, new = conflicts[0]
    raise ValueError(f"--{name}: {workdir} was trained with {name}={old!r}, not {new!r}; "
                     f"use another --workdir (or --overwrite to start afresh)")


def move_aside(workdir):
  """Renames a run's workdir to WORKDIR.old-YYYYmmdd-HHMMSS[-N]; returns the new path."""
  base = os.path.normpath(workdir) + time.strftime(".old-%Y%m%d-%H%M%S")
  target, n = base, 1
  while os.path.exists(target):
    n += 1
    target = f"{base}-{n}"
  try:
    os.rename(workdir, target)
  except OSError as e:
    raise ValueError(f"--overwrite: cannot move {workdir!r} aside to {target!r}: {e.strerror}; "
                     "move or delete it yourself") from None
  return target


def start_workdir(config, workdir, overwrite=False):
  """Before any data is read: refuses a workdir trained with other identity fields (or,
  with overwrite, moves the old run aside: nothing is deleted), and an existing workdir
  or checkpoint folder that cannot be written. Creates nothing: prepare_workdir does.

  num_classes may still be 0 here (taken from the dataset later): prepare_workdir
  checks it once it is known.
  """
  if overwrite and os.path.isdir(workdir) and os.listdir(workdir):
    logging.warning("--overwrite: moved the previous run in %s to %s", workdir,
                    move_aside(workdir))
  saved = _saved_config(workdir)
  if saved is not None:
    _refuse_conflict(saved, config.replace(num_classes=config.num_classes or saved.num_classes),
                     workdir)
  for folder in (workdir, ckpt_lib.checkpoint_dir(workdir)):
    if os.path.isdir(folder):
      ckpt_lib.check_writable(folder)


def prepare_workdir(config, workdir):
  """Creates the workdir, checks a saved config against this one, and saves it."""
  try:
    os.makedirs(workdir, exist_ok=True)
  except OSError as e:
    raise ValueError(f"--workdir: cannot create {workdir!r}: {e.strerror}") from None
  path = os.path.join(workdir, "config.json")
  saved = _saved_config(workdir)
  if saved is not None:
    _refuse_conflict(saved, config, workdir)
  try:
    config_lib.save_json(config, path)
  except OSError as e:
    raise ValueError(f"--workdir: cannot write {path}: {e.strerror}") from None


def build_gan(config, num_classes, strategy, policy):
  """Models, optimizers and the compiled GAN, created under the strategy's scope."""
  with strategy.scope():
    generator, discriminator = models.build_models(config, num_classes)
    gan = GAN(generator, discriminator, config.latent_dim, seed=config.seed,
              label_smoothing=config.label_smoothing, d_steps=config.d_steps,
              recon_weight=config.recon_weight if num_classes else 0.0)
    loss_scale = policy == "mixed_float16"
    jit = distribute.resolve_jit_compile(config.jit_compile, strategy, policy)
    gan.compile(
        d_optimizer=make_optimizer(config.d_optimizer, config.d_lr, config.beta_1, config.beta_2,
                                   loss_scale),
        g_optimizer=make_optimizer(config.g_optimizer, config.g_lr, config.beta_1, config.beta_2,
                                   loss_scale),
        jit_compile=jit, steps_per_execution=config.steps_per_execution)
    fixed_noise = tf.Variable(
        tf.random.stateless_normal([config.num_grid_samples, config.latent_dim],
                                   seed=[config.seed, 1_000_003]), trainable=False, name="fixed_noise")
  return gan, fixed_noise


def data_seed(seed, step, rollbacks):
  """Shuffle seed of an input pipeline started at generator step `step` after `rollbacks`.

  A fresh run shuffles with --seed itself. A resumed run, or one rolled back after a
  non-finite step, reseeds: otherwise it would replay the run's first batches (or the
  batches that led to the NaN). Deterministic, so rerunning a resume sees the same
  batches. Returns an int in [0, 2**31).
  """
  if step == 0 and rollbacks == 0:
    return seed
  mixed = np.random.SeedSequence([seed, step, rollbacks]).generate_state(1)[0]
  return int(mixed) % 2 ** 31


def fixed_labels(num_samples, num_classes):
  """Labels for the sample grid: each row one class (None when unconditional)."""
  if not num_classes:
    return None
  cols = math.ceil(math.sqrt(num_samples))
  return tf.constant([(i // cols) % num_classes for i in range(num_samples)], tf.int32)


def train_and_evaluate(config: config_lib.Config, workdir: str, overwrite: bool = False) -> dict:
  """Trains (or resumes) to `total_steps`, then checkpoints, samples and exports.

  overwrite: start afresh even if `workdir` holds a run; the old run is renamed to
  WORKDIR.old-<time> (see move_aside), never deleted.
  Returns a summary dict: step, start_step, total_steps, wall_s, images_per_s, paths,
  rollbacks (non-finite recoveries) and interrupted (signal name, or None).
  Raises ValueError for bad input and ckpt_lib.RunError when the run cannot go on.
  """
  config_lib.validate(config)
  check_inputs(config, workdir)
  t_start = time.perf_counter()
  # The strategy first: MultiWorkerMirroredStrategy must exist before TF runs any op.
  # Only the chief writes the run's folder (run_dir); other workers write everything
  # to a throwaway folder (TF's multi-worker guide) and restore from run_dir.
  strategy = distribute.get_strategy(config.strategy)
  run_dir, workdir = workdir, distribute.write_dir(strategy, workdir)
  start_workdir(config, workdir, overwrite)
  keras.utils.set_random_seed(config.seed)
  policy = distribute.set_precision(config.precision)

  def make_input(seed=None):
    """(dataset, Source); seed: shuffle seed, None = --seed (see data_seed). One pipeline
    per worker, reading its shard and batching per replica (global batch = --batch_size)."""
    return distribute.distributed_dataset(strategy, lambda ctx: data_lib.make_dataset(
        config, batch_size=config.batch_size, seed=seed, input_context=ctx), config.batch_size)

  dataset, source = make_input()
  dataset_seed = config.seed
  num_classes = models.conditional_classes(config, source.num_classes)
  config = config.replace(num_classes=num_classes) if num_classes else config
  steps = total_steps(config, source.num_examples)
  prepare_workdir(config, workdir)
  logging.info("Config (precision policy %s):\n%s", policy,
               json.dumps(config.to_dict(), indent=2, sort_keys=True))

  gan, fixed_noise = build_gan(config, num_classes, strategy, policy)
  ckpt, manager = ckpt_lib.make_manager(gan, fixed_noise, workdir, config.keep_checkpoints)
  # Every worker restores the chief's checkpoints (run_dir must be on a shared filesystem).
  chief_manager = (manager if workdir == run_dir else
                   ckpt_lib.make_manager(gan, fixed_noise, run_dir, config.keep_checkpoints)[1])
  restored = ckpt_lib.restore_latest(ckpt, chief_manager)
  start_step = int(gan.step.numpy())
  if restored:
    logging.info("Resumed from %s at step %d of %d", restored, start_step, steps)
  np.save(os.path.join(workdir, "fixed_noise.npy"), fixed_noise.numpy())

  writer = tf.summary.create_file_writer(os.path.join(workdir, "tensorboard"))
  with writer.as_default(step=start_step):
    tf.summary.text("config", "```\n" + json.dumps(config.to_dict(), indent=2, sort_keys=True)
                    + "\n```")
  logger = callbacks_lib.StepLogger(gan, writer, config.log_every, config.batch_size, steps)
  sampler = callbacks_lib.SampleGrid(gan, writer, fixed_noise, fixed_labels(
      config.num_grid_samples, num_classes), config.sample_every, os.path.join(workdir, "samples"))
  guard = callbacks_lib.NonFiniteGuard(gan)
  checkpointer = callbacks_lib.Checkpointer(gan, manager, config.checkpoint_every, guard,
                                            ckpt_lib.saved_variables(gan, fixed_noise))
  if restored:
    checkpointer.mark_saved(restored)
  else:
    # Step 0: a good state to roll back to before the first period; and an unwritable
    # disk fails now, not at the first checkpoint hours later.
    checkpointer.save()
  injector = ([callbacks_lib.InjectNaN(gan, config.debug_nan_step, config.debug_nan_times)]
              if config.debug_nan_step else [])
  if start_step >= steps:
    logging.info("Already at step %d of %d: nothing to train", start_step, steps)

  t_fit = time.perf_counter()
  trained = 0  # steps run by fit, redone ones included (for images/s)
  rollbacks = 0  # in this process; each one reseeds the batch order
  failures, last_bad = 0, -1  # rollbacks in a row without a checkpoint past step last_bad
  with callbacks_lib.SignalStop() as stop:
    callbacks = injector + [guard, logger, sampler, checkpointer, stop]
    while True:
      step = int(gan.step.numpy())
      if step < steps and stop.signum is None:
        seed = data_seed(config.seed, step, rollbacks)
        if seed != dataset_seed:
          dataset, dataset_seed = make_input(seed)[0], seed
        gan.fit(dataset, epochs=1, steps_per_epoch=steps - step, verbose=0, shuffle=False,
                callbacks=callbacks)
        trained += int(gan.step.numpy()) - step
      ckpt_path = checkpointer.save()  # None when a variable is non-finite (guard tripped)
      if not guard.tripped:
        break
      failures = 1 if checkpointer.last_step > last_bad else failures + 1
      last_bad = guard.step
      if failures > config.max_rollbacks:
        raise ckpt_lib.RunError(
            f"non-finite {guard.what} at step {guard.step}; stopped after {failures - 1} "
            f"rollback(s) in a row (--max_rollbacks={config.max_rollbacks}). The last good "
            f"checkpoint {checkpointer.last_path} is kept: lower --g_lr/--d_lr or change --seed, "
            "then rerun to resume from it")
      restored = ckpt_lib.restore_latest(ckpt, chief_manager)
      if restored is None:
        raise ckpt_lib.RunError(f"non-finite {guard.what} at step {guard.step} and no checkpoint "
                                f"left in {manager.directory} to roll back to")
      checkpointer.mark_saved(restored)
      rollbacks += 1
      logging.warning("Non-finite %s at step %d: rolled back to %s (rollback %d in a row of at "
                      "most %d), reshuffling the data", guard.what, guard.step, restored, failures,
                      config.max_rollbacks)
      guard.reset()
  fit_s = time.perf_counter() - t_fit
  final_step = int(gan.step.numpy())
  grid_path = sampler.write()
  summary = dict(step=final_step, start_step=start_step, total_steps=steps, checkpoint=ckpt_path,
                 samples=grid_path, policy=policy, rollbacks=rollbacks,
                 interrupted=stop.signal_name,
                 images_per_s=trained * config.batch_size / max(fit_s, 1e-9))
  if stop.signum is not None:
    # No export: the run is unfinished, and a scheduler's SIGTERM grace period is short.
    logging.warning("Stopped by %s at step %d of %d; checkpoint %s. Rerun the same command to "
                    "resume (the export happens when the run completes)", stop.signal_name,
                    final_step, steps, ckpt_path)
  elif config.export:
    bad = ckpt_lib.nonfinite_variables(gan.generator.variables)
    if bad:  # the final checkpoint was checked too: belt and braces before publishing
      raise ckpt_lib.RunError(f"not exporting: generator weight {bad[0]} is non-finite at step "
                              f"{final_step}")
    summary["saved_model"] = export_lib.export_generator(
        gan.generator, os.path.join(workdir, "saved_model"), config.latent_dim, config.image_size,
        config.channels, num_classes)
  summary["wall_s"] = time.perf_counter() - t_start
  distribute.cleanup_write_dir(workdir, run_dir)  # a non-chief's throwaway folder
  logging.info("Done: %s", json.dumps(summary))
  return summary
