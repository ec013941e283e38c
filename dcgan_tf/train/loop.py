"""train(config, workdir): data, models, strategy, compile, restore, fit, checkpoint, export.

Flow: Config -> strategy and precision -> workdir checks -> tf.data pipeline ->
compiled GAN (build.py) -> restore the newest checkpoint -> fit with callbacks
(callbacks.py) under fault handling (faults.py) -> final checkpoint, sample grid,
SavedModel (export/). Rerunning with the same workdir resumes.

Faults (faults.py, checkpoints.py, workdir.py):
  kill -9           checkpoints are written atomically; a rerun resumes from the newest
                    readable one (falling back past damaged ones).
  SIGINT/SIGTERM    the current step finishes, a checkpoint is written, the summary says
                    `interrupted` (no export: the run is unfinished).
  NaN / Inf         never checkpointed or exported: roll back to the last checkpoint with a
                    reseeded batch order, at most --max_rollbacks times in a row.
  bad workdir       conflicting config refused (or moved aside with overwrite=True);
                    unwritable checkpoints: UserError, older checkpoints intact.
"""

import json
import os
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from dcgan_tf import checkpoints
from dcgan_tf import config as config_lib
from dcgan_tf import data as data_lib
from dcgan_tf import devices
from dcgan_tf import images
from dcgan_tf import models
from dcgan_tf import seeds
from dcgan_tf.errors import UserError
from dcgan_tf.export import savedmodel, serving
from dcgan_tf.train import build, callbacks, distribute, ema, faults
from dcgan_tf.workdir import Workdir


def train(config: config_lib.Config, workdir: str, overwrite: bool = False,
          extra_callbacks=()) -> dict:
  """Trains (or resumes) to the run's total steps, then checkpoints, samples and exports.

  overwrite: start afresh even if `workdir` holds a run; the old run is renamed to
  WORKDIR.old-<time> (Workdir.move_aside), never deleted. extra_callbacks: Keras
  callbacks run before the others each step (e.g. fault injection in tests).
  Returns a summary dict: step, start_step, total_steps, wall_s, images_per_s, paths,
  rollbacks (non-finite recoveries) and interrupted (signal name, or None).
  Raises UserError for bad input and when the run cannot go on.
  """
  config_lib.validate(config)
  run_dir = Workdir(workdir)
  t_start = time.perf_counter()
  # The strategy first: MultiWorkerMirroredStrategy must exist before TF runs any op.
  # Only the chief writes the run's folder (run_dir); other workers write everything
  # to a throwaway folder (TF's multi-worker guide) and restore from run_dir.
  strategy = distribute.get_strategy(config.strategy)
  devices.check_gpu(config.require_gpu)  # before anything is written
  out = Workdir(distribute.write_dir(strategy, workdir))
  out.start(config, overwrite)
  keras.utils.set_random_seed(seeds.derive(config.seed, "global"))  # for anything unseeded
  policy = devices.set_precision(config.precision)
  logging.info("Training on %s", devices.describe(
      strategy, policy, devices.resolve_jit_compile(config.jit_compile, strategy)))

  def make_input(step=0, rollbacks=0):
    """(dataset, Source) of a fit started at generator step `step` after `rollbacks`
    rollbacks (data.data_seed). One pipeline per worker, reading its shard and batching per
    replica."""
    return distribute.distributed_dataset(strategy, lambda ctx: data_lib.make_dataset(
        config, batch_size=config.batch_size, uint8=True, input_context=ctx,
        seed=data_lib.data_seed(config.seed, step, rollbacks, ctx.input_pipeline_id)),
        config.batch_size)

  dataset, source = make_input()
  num_classes = models.conditional_classes(config, source.num_classes)
  config = config.replace(num_classes=num_classes) if num_classes else config
  steps = build.total_steps(config, source.num_examples)
  out.save_config(config)
  config_text = json.dumps(config.to_dict(), indent=2, sort_keys=True)
  logging.info("Config (precision policy %s, conv_impl %s):\n%s", policy,
               devices.resolve_conv_impl(config.conv_impl), config_text)

  gan, fixed_noise = build.build_gan(config, num_classes, strategy, policy)
  ckpt = checkpoints.make_checkpoint(gan, fixed_noise)
  manager = checkpoints.make_manager(ckpt, out, config.keep_checkpoints)
  # Every worker restores the chief's checkpoints (run_dir must be on a shared filesystem).
  restored = checkpoints.restore_latest(ckpt, run_dir)
  start_step = int(gan.step.numpy())
  if restored:
    logging.info("Resumed from %s at step %d of %d", restored, start_step, steps)
  np.save(out.fixed_noise_path, fixed_noise.numpy())

  writer = tf.summary.create_file_writer(out.tensorboard_dir)
  with writer.as_default(step=start_step):
    tf.summary.text("config", "```\n" + config_text + "\n```")
  guard = faults.NonFiniteGuard(gan)
  # Samples and the export come from the EMA generator when there is one (train/ema.py).
  sample_generator = gan.generator if gan.ema_generator is None else gan.ema_generator
  ema_statistics = []
  if gan.ema_generator is not None:
    ema_statistics = [ema.EMAStatistics(
        gan, (config.sample_every, config.checkpoint_every, config.eval_every), num_classes,
        config.seed)]
  sampler = callbacks.SampleGrid(gan, sample_generator, writer, fixed_noise,
                                 images.grid_labels(config.num_grid_samples, num_classes),
                                 config.sample_every, out.samples_dir)
  checkpointer = callbacks.Checkpointer(gan, manager, config.checkpoint_every, guard,
                                        checkpoints.saved_variables(gan, fixed_noise))
  periodic_eval = []
  if config.eval_every:
    # Here, not at the top: evaluation pulls in the metrics (scikit-learn, the Inception
    # extractors), which a run without --eval_every never needs.
    from dcgan_tf.train import evaluation
    context = evaluation.make_context(config, out, sample_generator, num_classes)
    metrics = evaluation.resolve_metrics(config, context)
    if config.eval_best and config.eval_best not in metrics:
      raise UserError(f"--eval_best: {config.eval_best} is not among the metrics evaluated "
                      f"({', '.join(metrics)}; --eval_metrics={config.eval_metrics})")
    logging.info("Evaluating %s every %d steps on %d samples", ",".join(metrics),
                 config.eval_every, config.eval_samples)
    periodic_eval = [evaluation.PeriodicEval(gan, context, metrics, config, out, writer, ckpt,
                                               sample_generator)]
  if restored:
    checkpointer.mark_saved(restored)
  else:
    # Step 0: a good state to roll back to before the first period; and an unwritable
    # disk fails now, not at the first checkpoint hours later.
    checkpointer.save()
  if start_step >= steps:
    logging.info("Already at step %d of %d: nothing to train", start_step, steps)

  step_logger = callbacks.StepLogger(gan, writer, config.log_every, config.batch_size, steps,
                                     source.num_examples)
  t_fit = time.perf_counter()
  # A signal to one worker of a cluster must stop them all at one step (faults.py).
  multi_worker = distribute.is_multi_worker(strategy)

  def save_preempted():
    """The coordinated stop's checkpoint, written mid-fit: the EMA G's statistics first."""
    for statistics in ema_statistics:
      statistics.refresh_statistics()
    return checkpointer.save()

  signals = (faults.CoordinatedStop(strategy, save_preempted) if multi_worker
             else faults.SignalStop())
  try:
    with signals as stop:
      # The per-step actions, in their order (train/callbacks.py): finite check, EMA
      # statistics, log, sample grid, evaluation, checkpoint, stop.
      actions = callbacks.RunActions(gan, [guard, *ema_statistics, step_logger, sampler,
                                           *periodic_eval, checkpointer, stop])
      ckpt_path, trained, rollbacks = faults.fit_with_rollback(
          gan, steps, dataset, lambda step, rollbacks: make_input(step, rollbacks)[0],
          list(extra_callbacks) + [actions],
          guard, checkpointer, lambda: checkpoints.restore_latest(ckpt, run_dir),
          config.max_rollbacks, stop)
  except tf.errors.OpError as e:
    lost = faults.worker_lost(e, checkpointer.last_step) if multi_worker else None
    if lost is None:
      raise
    raise lost from e
  fit_s = time.perf_counter() - t_fit
  if ckpt_path and out.path != run_dir.path:  # a non-chief's copy is thrown away: name the chief's
    ckpt_path = os.path.join(run_dir.checkpoint_dir, os.path.basename(ckpt_path))
  final_step = int(gan.step.numpy())
  summary = dict(step=final_step, start_step=start_step, total_steps=steps, checkpoint=ckpt_path,
                 samples=sampler.write(), policy=policy, rollbacks=rollbacks,
                 interrupted=stop.signal_name,
                 images_per_s=trained * config.batch_size / max(fit_s, 1e-9))
  if stop.signum is not None:
    # No export: the run is unfinished, and a scheduler's SIGTERM grace period is short.
    logging.warning("Stopped by %s at step %d of %d; checkpoint %s. Rerun the same command to "
                    "resume (the export happens when the run completes)", stop.signal_name,
                    final_step, steps, ckpt_path)
  elif config.export:
    bad = checkpoints.nonfinite_variables(sample_generator.variables)
    if bad:  # the final checkpoint was checked too: belt and braces before publishing
      raise UserError(f"not exporting: generator weight {bad[0]} is non-finite at step "
                      f"{final_step}")
    summary["saved_model"] = savedmodel.export_generator(
        sample_generator, out.saved_model_dir, config, num_classes, step=final_step,
        ema=gan.ema_generator is not None)
    summary["serving"] = serving.publish(summary["saved_model"], out.serving_dir, final_step,
                                         config.keep_checkpoints)
    best = None
    if config.eval_every:
      from dcgan_tf.train import evaluation
      best = evaluation.read_best(out)
    if best is not None:
      summary["saved_model_best"] = savedmodel.export_best(out, best, config, num_classes)
  summary["wall_s"] = time.perf_counter() - t_start
  distribute.cleanup_write_dir(out.path, workdir)  # a non-chief's throwaway folder
  logging.info("Done: %s", json.dumps(summary))
  return summary
