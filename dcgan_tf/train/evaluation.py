"""Evaluation during training (`--eval_every=N`): a fixed, cheap metric set every N steps,
logged to TensorBoard, with the best checkpoint kept apart from the rolling ones.

make_context builds an evaluate/context.py Context over the live generator with the
Settings of `python -m dcgan_tf.evaluate --seed=0 --num_samples=--eval_samples
--feature_extractor=classifier` (the same noise, labels, real images and classifier), and
PeriodicEval scores it with evaluator.score, as evaluate does: a number logged here is
reproduced by evaluate on the same checkpoint (with --nouse_ema for the trained G). With an
EMA G both it and the trained G are scored, and the better by --eval_best is what the best
checkpoint's export and the final export ship (saying which: "generator" in their JSON; the
final export by --export_generator=best, the default, which also makes a run without
--eval_every evaluate its last step for that choice alone: loop.final_choice).

  --eval_metrics  auto: fid,kid on the features of the dataset's cached classifier (the one
                  `evaluate --feature_extractor=classifier` trains) when it exists, else swd
                  (no network, no classifier); or any of fid, kid, swd, precision,
                  recall, density, coverage
  --eval_best     the metric (lower is better; default the first of fid, kid, swd evaluated)
                  whose best value keeps its checkpoint in
                  checkpoints/best/ (never rotated away); best.json beside it holds its step
                  and score; at the end the run exports it as WORKDIR/saved_model_best
                  (+ saved_model_best.json)
The run also evaluates its last step (the final export's choice). The time each evaluation
takes is logged and written as the scalar eval/seconds.
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
# The final export's choice alone (no --eval_every) draws its real images from the first
# this-many of a larger split: a reservoir over all of LSUN's 3M images would be a second
# pass over the data at the end of every run; 100k bounds it to minutes.
FINAL_CHOICE_REAL_POOL = 100_000
FEATURE_METRICS = CLASSIFIER_METRICS + ("precision", "recall", "density", "coverage")


def make_context(config: Config, workdir: Workdir, generator, real_pool: int = 0) -> Context:
  """An evaluation Context over the live `generator`, through its float32 copy when it
  trains in another precision (PeriodicEval syncs it and refresh()es before each use).
  real_pool: evaluate's --real_pool (0: the whole split)."""
  evaluated = models.float32_generator(generator, config)
  run = inference.Run(workdir=workdir, config=config, generator=evaluated, discriminator=None,
                      step=0, checkpoint="",
                      ema=config.ema_decay > 0)  # the run samples from its EMA G then
  # evaluate's defaults for the rest: its cached classifier is the one auto looks for.
  settings = Settings(num_samples=config.eval_samples, seed=EVAL_SEED,
                      feature_extractor="classifier", real_pool=real_pool)
  return Context(run, settings)


def resolve_metrics(config: Config, context: Context):
  """--eval_metrics as a tuple of metric names (auto resolved, see the module doc)."""
  if config.eval_metrics != "auto":
    return tuple(m.strip() for m in config.eval_metrics.split(",") if m.strip())
  return CLASSIFIER_METRICS if context.has_cached_classifier() else ("swd",)


class PeriodicEval(Action):
  """Every `config.eval_every` steps and at the last step: metrics to TensorBoard, the best
  checkpoint kept apart, and which generator is better.

  candidates: {"ema": EMA G, "trained": G} (or {"trained": G} without EMA), the first being
  the one the run samples from. Each is scored on the same samples' z and real side; the
  better by the best metric (the first on ties) is `choice` (step, name, record), which
  the best checkpoint's export and the final export use. eval/NAME logs the first,
  eval/trained/NAME the trained G beside an EMA G.
  """

  def __init__(self, gan, context: Context, metrics, config: Config, best, writer, candidates,
               final_step):
    super().__init__()
    self.candidates = dict(candidates)
    first = next(iter(self.candidates.values()))
    # The context's network: the first candidate itself, or its float32 copy (mixed
    # precision) into which each candidate's weights are copied before it is scored.
    self.copy = None if context.run.generator is first else context.run.generator
    self.gan, self.context, self.metrics, self.writer = gan, context, metrics, writer
    self.every, self.final_step = config.eval_every, final_step
    # None: only higher-is-better metrics (precision, ...) are evaluated; no best checkpoint.
    self.best_metric = config.eval_best or next(
        (m for m in metrics if m in config_lib.EVAL_BEST_METRICS), None)
    self.best = best  # checkpoints.BestCheckpoint of the run, or None (none kept)
    self.last_step = None
    self.choice = None  # (step, generator name, record) of the last evaluation

  @classmethod
  def for_run(cls, run, writer, keep_best=True) -> "PeriodicEval":
    """The evaluation of a training run (train/setup.py's Run), its sample generator.
    keep_best=False: no best checkpoint, the last step only (the final export's choice alone,
    loop.final_choice), real images from FINAL_CHOICE_REAL_POOL of a larger split."""
    config, gan = run.config, run.gan
    large = (run.input.source.num_examples or 0) > FINAL_CHOICE_REAL_POOL
    context = make_context(config, run.out, run.sample_generator,
                           real_pool=FINAL_CHOICE_REAL_POOL if large and not keep_best else 0)
    metrics = resolve_metrics(config, context)
    if config.eval_best and config.eval_best not in metrics:
      raise UserError(f"{config.eval_best} is not among the metrics evaluated "
                      f"({', '.join(metrics)}; eval_metrics={config.eval_metrics})",
                      "eval_best")
    candidates = {"trained": gan.generator}
    if gan.ema_generator is not None:
      candidates = {"ema": gan.ema_generator, **candidates}
    logging.info("Evaluating %s %s on %d samples (%s G)", ",".join(metrics),
                 f"every {config.eval_every} steps" if keep_best else "at the last step",
                 config.eval_samples, " and ".join(candidates))
    best = checkpoints.BestCheckpoint(run.checkpoints.checkpoint, run.out) if keep_best else None
    return cls(gan, context, metrics, config, best, writer, candidates, run.total_steps)

  def begin(self, step):
    if self.last_step is not None and self.last_step > step:  # rolled back past it
      self.last_step, self.choice = None, None

  def after(self, previous, step, logs):
    if crossed(previous, step, self.every) and step != self.last_step:
      self.evaluate(step)

  def end(self, step):
    if step >= self.final_step and step != self.last_step:  # what the final export picks by
      self.evaluate(step)

  def _score(self, name):
    network = self.candidates[name]
    if self.copy is not None:
      models.copy_weights(network, self.copy)
      network = self.copy
    self.context.use_generator(network, ema=name == "ema")
    values = evaluator.headline(evaluator.score(self.context, self.metrics)[0])
    return values, self.context.protocol()

  def choose(self, scores: dict) -> str:
    """The candidate with the lowest finite best-metric value; the first on ties or when
    none has one."""
    names = list(scores)
    values = [scores[n].get(self.best_metric, np.nan) for n in names]
    finite = [(v, i) for i, v in enumerate(values) if np.isfinite(v)]
    return names[min(finite)[1]] if finite else names[0]

  def evaluate(self, step):
    t0 = time.perf_counter()
    scored = {name: self._score(name) for name in self.candidates}
    scores = {name: values for name, (values, _) in scored.items()}
    seconds = time.perf_counter() - t0
    first = next(iter(scores))
    with self.writer.as_default(step=step):
      for name, value in scores[first].items():
        tf.summary.scalar(f"eval/{name}", value)
      if first != "trained":
        for name, value in scores["trained"].items():
          tf.summary.scalar(f"eval/trained/{name}", value)
      tf.summary.scalar("eval/seconds", seconds)
      tf.summary.text("eval/protocol", json.dumps(scored[first][1], sort_keys=True))
    self.writer.flush()
    self.last_step = step
    chosen = self.choose(scores)
    values = scores[chosen]
    value = values.get(self.best_metric, np.nan)
    best = self.best.record if self.best is not None else None
    better = (self.best is not None and bool(np.isfinite(value))
              and (best is None or value < best["value"]))
    logging.info("eval at step %d (%.1fs): %s%s%s", step, seconds,
                 "  ".join(f"{k}={v:.4g}" for k, v in scores[first].items()),
                 "".join(f"  {n}: " + " ".join(f"{k}={v:.4g}" for k, v in scores[n].items())
                         for n in list(scores)[1:]),
                 f"  (best {self.best_metric} so far, {chosen} G)" if better else "")
    record = dict(metric=self.best_metric, value=value, metrics=values, generator=chosen,
                  num_samples=self.context.settings.num_samples, seed=EVAL_SEED,
                  protocol=scored[chosen][1])
    if len(scores) > 1:
      record["candidates"] = scores
    if set(values) & set(FEATURE_METRICS):
      record["feature_extractor"] = self.context.extractor.name
    self.choice = (step, chosen, record)
    if better:
      self.best.save(step, record)
    return values
