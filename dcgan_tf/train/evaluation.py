"""Evaluation during training (`--eval_every=N`): a fixed, cheap metric set every N steps,
logged to TensorBoard, with the best checkpoint kept apart from the rolling ones.

make_context builds an evaluate/context.py Context over the live generator with the
Settings of `python -m dcgan_tf.evaluate --seed=0 --num_samples=--eval_samples
--feature_extractor=classifier` (the same noise, labels, real images and classifier), and
PeriodicEval scores it with evaluator.score, as evaluate does: a number logged here is
reproduced by evaluate on the same checkpoint. The generator evaluated is the one the run
samples from (the EMA G when --ema_decay > 0).

  --eval_metrics  auto: fid,kid on the features of the dataset's cached classifier (the one
                  `evaluate --feature_extractor=classifier` trains) when it exists, else swd
                  (no network, no classifier); or any of fid, kid, swd, precision,
                  recall, density, coverage
  --eval_best     the metric (lower is better; default the first of fid, kid, swd evaluated)
                  whose best value keeps its checkpoint in
                  checkpoints/best/ (never rotated away); best.json beside it holds its step
                  and score; at the end the run exports it as WORKDIR/saved_model_best
                  (+ saved_model_best.json)
The time each evaluation takes is logged and written as the scalar eval/seconds.
"""

import json
import time

import numpy as np
import tensorflow as tf
from absl import logging

from dcgan_tf import checkpoints
from dcgan_tf import inference
from dcgan_tf import models
from dcgan_tf import config as config_lib
from dcgan_tf.config import Config
from dcgan_tf.evaluate import evaluator
from dcgan_tf.evaluate.context import Context, Settings
from dcgan_tf.errors import UserError
from dcgan_tf.train.callbacks import Action, crossed
from dcgan_tf.workdir import Workdir

EVAL_SEED = 0  # one protocol for every run (evaluate's default --seed), whatever --seed is
CLASSIFIER_METRICS = ("fid", "kid")  # auto's choice when the classifier is cached
FEATURE_METRICS = CLASSIFIER_METRICS + ("precision", "recall", "density", "coverage")


def make_context(config: Config, workdir: Workdir, generator) -> Context:
  """An evaluation Context over the live `generator`, through its float32 copy when it
  trains in another precision (PeriodicEval syncs it and refresh()es before each use)."""
  evaluated = models.float32_generator(generator, config)
  run = inference.Run(workdir=workdir, config=config, generator=evaluated, discriminator=None,
                      step=0, checkpoint="",
                      ema=config.ema_decay > 0)  # the run samples from its EMA G then
  # evaluate's defaults for the rest: its cached classifier is the one auto looks for.
  settings = Settings(num_samples=config.eval_samples, seed=EVAL_SEED,
                      feature_extractor="classifier")
  return Context(run, settings)


def resolve_metrics(config: Config, context: Context):
  """--eval_metrics as a tuple of metric names (auto resolved, see the module doc)."""
  if config.eval_metrics != "auto":
    return tuple(m.strip() for m in config.eval_metrics.split(",") if m.strip())
  return CLASSIFIER_METRICS if context.has_cached_classifier() else ("swd",)


class PeriodicEval(Action):
  """Every `config.eval_every` steps: metrics to TensorBoard, best checkpoint kept apart."""

  def __init__(self, gan, context: Context, metrics, config: Config, best, writer, generator):
    super().__init__()
    self.generator = generator  # the live G the context evaluates (or its float32 copy)
    self.gan, self.context, self.metrics, self.writer = gan, context, metrics, writer
    self.every = config.eval_every
    # None: only higher-is-better metrics (precision, ...) are evaluated; no best checkpoint.
    self.best_metric = config.eval_best or next(
        (m for m in metrics if m in config_lib.EVAL_BEST_METRICS), None)
    self.best = best  # checkpoints.BestCheckpoint of the run
    self.last_step = None

  @classmethod
  def for_run(cls, run, writer) -> "PeriodicEval":
    """The evaluation of a training run (train/setup.py's Run), its sample generator."""
    config = run.config
    context = make_context(config, run.out, run.sample_generator)
    metrics = resolve_metrics(config, context)
    if config.eval_best and config.eval_best not in metrics:
      raise UserError(f"{config.eval_best} is not among the metrics evaluated "
                      f"({', '.join(metrics)}; eval_metrics={config.eval_metrics})",
                      "eval_best")
    logging.info("Evaluating %s every %d steps on %d samples", ",".join(metrics),
                 config.eval_every, config.eval_samples)
    best = checkpoints.BestCheckpoint(run.checkpoints.checkpoint, run.out)
    return cls(run.gan, context, metrics, config, best, writer, run.sample_generator)

  def after(self, previous, step, logs):
    if crossed(previous, step, self.every) and step != self.last_step:
      self.evaluate(step)

  def evaluate(self, step):
    t0 = time.perf_counter()
    if self.context.run.generator is not self.generator:  # the float32 copy: sync it
      models.copy_weights(self.generator, self.context.run.generator)
    self.context.refresh()
    values = evaluator.headline(evaluator.score(self.context, self.metrics)[0])
    seconds = time.perf_counter() - t0
    with self.writer.as_default(step=step):
      for name, value in values.items():
        tf.summary.scalar(f"eval/{name}", value)
      tf.summary.scalar("eval/seconds", seconds)
      tf.summary.text("eval/protocol", json.dumps(self.context.protocol(), sort_keys=True))
    self.writer.flush()
    self.last_step = step
    value = values.get(self.best_metric, np.nan)
    best = self.best.record
    better = bool(np.isfinite(value)) and (best is None or value < best["value"])
    logging.info("eval at step %d (%.1fs): %s%s", step, seconds,
                 "  ".join(f"{k}={v:.4g}" for k, v in values.items()),
                 f"  (best {self.best_metric} so far)" if better else "")
    if better:
      record = dict(metric=self.best_metric, value=value, metrics=values,
                    num_samples=self.context.settings.num_samples, seed=EVAL_SEED,
                    protocol=self.context.protocol())
      if set(values) & set(FEATURE_METRICS):
        record["feature_extractor"] = self.context.extractor.name
      self.best.save(step, record)
    return values
