"""train(config, workdir): setup, the fit with its per-step actions, then the export.

Read top to bottom:
  1. setup.setup: strategy, precision, workdir, data facts, compiled GAN, checkpoints
     restored, the input pipeline shuffled for the step the run starts from.
  2. The per-step actions, listed once in their order (callbacks.RunActions): finite
     check, augmentation strength, EMA statistics, log, sample grid, evaluation,
     checkpoint, stop.
  3. fit: Keras `fit` over the compiled train step with that one callback, in rounds of
     steps_per_execution steps (fit_steps), rolling back on a non-finite step (the policy
     is faults.Rollbacks', the state checkpoints.RunCheckpoints').
  4. The final checkpoint and grid; unless a signal stopped the run, the SavedModel of the
     generator --export_generator names (best: the EMA or the trained G, whichever scores
     better at the last step; final_choice), the best evaluated one too, and their TF
     Serving versions.
Keras `fit` rather than a hand-written loop: it keeps Keras' compiled multi-step function
(steps_per_execution), its distributed-dataset handling and its callbacks; everything a
period triggers is in the one callback, which reads the step once per round.
Rerunning with the same workdir resumes; faults are handled as BUILD_NOTES.md ("Faults")
describes.
"""

import json
import time

import tensorflow as tf
from absl import logging

from dcgan_tf import checkpoints
from dcgan_tf import config as config_lib
from dcgan_tf import images
from dcgan_tf.errors import UserError
from dcgan_tf.export import savedmodel, serving
from dcgan_tf.train import ada, callbacks, distribute, ema, faults
from dcgan_tf.train import setup as setup_lib


def train(config, workdir: str, overwrite: bool = False, extra_callbacks=()) -> dict:
  """Trains (or resumes) to the run's total steps, then checkpoints, samples and exports.

  overwrite: start afresh even if `workdir` holds a run (the old run is moved aside).
  extra_callbacks: Keras callbacks run before the others each step (e.g. fault injection
  in tests). Returns a summary dict: step, start_step, total_steps, wall_s, images_per_s,
  paths, rollbacks (non-finite recoveries) and interrupted (signal name, or None).
  Raises UserError for bad input and when the run cannot go on.
  """
  t_start = time.perf_counter()
  run = setup_lib.setup(config, workdir, overwrite)
  config, gan, out = run.config, run.gan, run.out
  writer = tf.summary.create_file_writer(out.tensorboard_dir)
  with writer.as_default(step=run.start_step):
    tf.summary.text("config", "```\n" + config.to_json() + "\n```")
  if run.start_step >= run.total_steps:
    logging.info("Already at step %d of %d: nothing to train", run.start_step, run.total_steps)

  # The per-step actions, in their order (callbacks.py says why this order).
  adapt_augment = [ada.AdaptAugment(gan)] if gan.adaptive_augment else []
  ema_statistics = []
  if gan.ema_generator is not None:
    ema_statistics = [ema.EMAStatistics(
        gan, (config.sample_every, config.checkpoint_every, config.eval_every),
        config.num_classes, config.seed, config.ema_stat_samples)]
  sampler = callbacks.SampleGrid(gan, run.sample_generator, writer, run.fixed_noise,
                                 images.grid_labels(config.num_grid_samples, config.num_classes),
                                 config.sample_every, out)
  # A signal to one worker of a cluster must stop them all at one step (faults.py).
  multi_worker = distribute.is_multi_worker(run.strategy)
  # Evaluation: every --eval_every steps (a per-step action), or of the last step alone for
  # the export's choice (final_choice); built now, so a bad metric setting stops the run
  # before it trains. Imported here: evaluation pulls in the metrics (scikit-learn, the
  # Inception extractors), which a run that never evaluates does not need.
  evaluator = None
  if config.eval_every or config_lib.chooses_export(config) and not multi_worker:
    from dcgan_tf.train import evaluation
    evaluator = evaluation.PeriodicEval.for_run(run, writer, keep_best=bool(config.eval_every))
  elif config_lib.chooses_export(config):
    logging.info("export_generator=best: multi-worker runs do not evaluate; the export ships "
                 "the EMA G")
  periodic_eval = [evaluator] if config.eval_every else []
  step_logger = callbacks.StepLogger(gan, writer, config.log_every, config.batch_size,
                                     run.total_steps, run.input.source.num_examples)
  checkpointer = callbacks.Checkpointer(run.checkpoints, config.checkpoint_every)

  def save_preempted():
    """The checkpoint of a stop by signal, written inside fit: the EMA G's statistics first."""
    for statistics in ema_statistics:
      statistics.refresh_statistics()
    return run.checkpoints.save()

  stop = (faults.CoordinatedStop(run.strategy, save_preempted) if multi_worker
          else faults.SignalStop(save_preempted))
  t_fit = time.perf_counter()
  try:
    with stop:
      actions = callbacks.RunActions(gan, [run.guard, *adapt_augment, *ema_statistics,
                                           step_logger, sampler,
                                           *periodic_eval, checkpointer, stop])
      ckpt_path, trained, rollbacks = fit(run, list(extra_callbacks) + [actions], stop)
  except tf.errors.OpError as e:
    lost = faults.worker_lost(e, run.checkpoints.last_step) if multi_worker else None
    if lost is None:
      raise
    raise lost from e
  fit_s = time.perf_counter() - t_fit

  final_step = int(gan.step.numpy())
  summary = dict(step=final_step, start_step=run.start_step, total_steps=run.total_steps,
                 checkpoint=run.checkpoints.run_path(ckpt_path), samples=sampler.write(),
                 policy=run.policy, rollbacks=rollbacks, interrupted=stop.signal_name,
                 images_per_s=trained * config.batch_size / max(fit_s, 1e-9))
  if stop.signum is not None:
    # No export: the run is unfinished, and a scheduler's SIGTERM grace period is short.
    logging.warning("Stopped by %s at step %d of %d; checkpoint %s. Rerun the same command to "
                    "resume (the export happens when the run completes)", stop.signal_name,
                    final_step, run.total_steps, summary["checkpoint"])
  elif config.export:
    summary.update(export(run, final_step, final_choice(config, evaluator, final_step)))
  summary["wall_s"] = time.perf_counter() - t_start
  distribute.cleanup_write_dir(out.path, run.workdir.path)  # a non-chief's throwaway folder
  logging.info("Done: %s", json.dumps(summary))
  return summary


def fit_steps(gan, dataset, start, steps, callbacks_):
  """gan.fit for exactly `steps` generator steps from generator step `start`.

  Keras runs whole rounds of steps_per_execution k steps (the dataset repeats): a
  remainder would overrun the run's length, and a start off the multiples of k (a resume
  from a run with another k) would shift every round, so periodic actions would fire up
  to k - 1 steps late all run long. So: a short round up to the next multiple of k, the
  whole rounds, and a short round for the remainder; each short length traces (and
  XLA-compiles) its own train function once. The k-step function is kept throughout.
  """
  k = gan.steps_per_execution
  head = min(steps, (-start) % k)
  body = (steps - head) // k * k
  tail = steps - head - body
  functions = {k: gan.train_function}  # None until the first fit builds it
  try:
    for count, per_call in ((head, head), (body, k), (tail, tail)):
      if not count:
        continue
      gan.steps_per_execution, gan.train_function = per_call, functions.get(per_call)
      gan.fit(dataset, epochs=1, steps_per_epoch=count, verbose=0, shuffle=False,
              callbacks=callbacks_)
      functions[per_call] = gan.train_function
      if gan.stop_training:  # the guard, a signal or a preemption stopped this fit
        break
  finally:
    gan.steps_per_execution, gan.train_function = k, functions.get(k)


def fit(run: setup_lib.Run, callbacks_, stop):
  """Fits run.gan to run.total_steps generator steps, rolling back on non-finite steps.

  After a rollback the input is reshuffled (data.data_seed). Returns (last checkpoint
  path, steps run by fit including redone ones, rollbacks). Raises UserError when the
  rollback policy gives up (faults.Rollbacks) or there is nothing to roll back to.
  """
  gan, guard = run.gan, run.guard
  rollbacks = faults.Rollbacks(run.config.max_rollbacks)
  dataset, started = run.dataset, (run.start_step, 0)  # the (step, rollbacks) it is seeded for
  trained = 0  # steps run by fit, redone ones included (for images/s)
  while True:
    step = int(gan.step.numpy())
    if step < run.total_steps and stop.signum is None:
      if (step, rollbacks.count) != started:  # a rollback: reshuffled (data.data_seed)
        dataset, started = run.input.dataset(step, rollbacks.count), (step, rollbacks.count)
      fit_steps(gan, dataset, step, run.total_steps - step, callbacks_)
      trained += int(gan.step.numpy()) - step
    path = run.checkpoints.save()  # None when a variable is non-finite (guard tripped)
    if not guard.tripped:
      return path, trained, rollbacks.count
    rollbacks.give_up_unless_allowed(guard, run.checkpoints)
    restored = run.checkpoints.restore()
    if restored is None:
      raise UserError(f"non-finite {guard.what} at step {guard.step} and no checkpoint left to "
                      "roll back to")
    rollbacks.rolled_back(guard, restored)


def final_choice(config, evaluator, step: int):
  """Which generator the final export ships (export's `choice`), by --export_generator.

  evaluator: the run's evaluation.PeriodicEval (every --eval_every steps, or of the last step
  alone), or None (no evaluation: a multi-worker run, or export_generator=ema / trained).
  It scores the last step now unless it has (a rerun of a finished run: now). best: the
  better of the EMA and the trained G by it (no evaluator: the EMA G); ema / trained: that
  one, with its scores when the last step was evaluated.
  """
  choice = None
  if evaluator is not None:
    evaluator.end(step)
    choice = evaluator.choice
  name = config.export_generator
  if name == "best" or config.ema_decay == 0:  # (no EMA G: the trained G, "ema" refused)
    return choice
  if choice is None or choice[0] != step:
    return (step, name, None)
  record = choice[2]
  scores = record.get("candidates", {}).get(name, record["metrics"])
  return (step, name, dict(record, generator=name, metrics=scores,
                           value=scores.get(record["metric"], float("nan")),
                           protocol=dict(record.get("protocol", {}), generator=name)))


def export(run: setup_lib.Run, step: int, choice=None) -> dict:
  """The finished run's SavedModel (+ TF Serving version), and the best evaluated one's.

  choice: (step, "ema" | "trained", record or None) from final_choice, or None. For the
  last step it names the generator exported (with its scores when it was evaluated); else
  the one the run samples from (the EMA G when there is one) is.
  """
  config, gan = run.config, run.gan
  ema, scores = gan.ema_generator is not None, None
  if choice is not None and choice[0] == step:
    ema, scores = ema and choice[1] == "ema", choice[2]
  generator = gan.ema_generator if ema else gan.generator
  bad = checkpoints.nonfinite_variables(generator.variables)
  if bad:  # the final checkpoint was checked too: belt and braces before publishing
    raise UserError(f"not exporting: generator weight {bad[0]} is non-finite at step {step}")
  paths = {"saved_model": savedmodel.export_generator(
      generator, run.out.saved_model_dir, config, step=step, ema=ema, scores=scores)}
  paths["serving"] = serving.publish(paths["saved_model"], run.out.serving_dir, step,
                                     config.keep_checkpoints)
  best = checkpoints.read_best(run.out) if config.eval_every else None
  if best is not None:
    paths["saved_model_best"] = savedmodel.export_best(run.out, best, config)
  return paths
