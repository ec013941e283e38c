"""Evaluation during training: metric curve in TensorBoard, best checkpoint kept apart and
exported, and its score reproduced by `evaluate`."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from conftest import tiny
from dcgan_tf.errors import UserError
from dcgan_tf.evaluate import options as eval_options


@pytest.mark.heavy
def test_eval_during_training_keeps_and_exports_the_best(tmp_path, request):
  from dcgan_tf.evaluate import evaluator
  # Float32 convolutions in float32 on any device, for the SWD recomputed below: with TF32
  # (Ampere GPUs) G's images would round to 10-bit mantissas and flip grey levels.
  tf32 = tf.config.experimental.tensor_float_32_execution_enabled()
  tf.config.experimental.enable_tensor_float_32_execution(False)
  request.addfinalizer(lambda: tf.config.experimental.enable_tensor_float_32_execution(tf32))
  from dcgan_tf.sample import plots
  from dcgan_tf.train import loop
  workdir = str(tmp_path / "run")
  # Every 4 steps and the last: steps 4 and 6 (what the final export picks by).
  summary = loop.train(tiny(train_steps=6, eval_every=4, eval_samples=64, checkpoint_every=2,
                            keep_checkpoints=1, export=True, export_generator="best"), workdir)
  curve = plots.read_scalars(os.path.join(workdir, "tensorboard"))
  steps, ema_values = curve["eval/swd"]  # the EMA G (what the run samples from)
  trained_steps, trained_values = curve["eval/trained/swd"]  # and the trained G
  timed_steps = curve["eval/seconds"][0]  # each evaluation's duration is logged too
  assert list(steps) == list(trained_steps) == [4, 6] and list(timed_steps) == [4, 6]
  assert not np.array_equal(ema_values, trained_values)  # two generators scored
  with open(os.path.join(workdir, "saved_model_best.json")) as f:
    best = json.load(f)
  # The better of the two at each step; the best over steps. The JSON's float64 against
  # TensorBoard's float32 copy: u = 6e-8 relative, under approx's 1e-6.
  values = np.minimum(ema_values, trained_values)
  assert best["metric"] == "swd" and best["value"] == pytest.approx(values.min())
  i = int(values.argmin())
  assert best["step"] == steps[i]
  assert best["generator"] == ("ema" if ema_values[i] <= trained_values[i] else "trained")
  # The final export ships the better generator of the last step, with its scores.
  from dcgan_tf.export import metadata
  final = metadata.read(summary["saved_model"])
  assert final["generator"] == ("ema" if ema_values[-1] <= trained_values[-1] else "trained")
  assert final["scores"]["value"] == pytest.approx(values[-1])
  # Rotation keeps one rolling checkpoint; the best one is kept apart.
  assert os.path.isfile(best["checkpoint"] + ".index")
  assert os.path.isfile(os.path.join(summary["saved_model_best"], "saved_model.pb"))
  # Its own TF Serving base, versioned by the best step; its metadata carries the score.
  from dcgan_tf.export import serving
  assert serving.versions(os.path.join(workdir, "serving_best")) == [best["step"]]
  info = metadata.read(os.path.join(workdir, "serving_best", str(best["step"])))
  assert info["step"] == best["step"] and info["scores"]["value"] == best["value"]
  assert info["generator"] == best["generator"]
  # evaluate on that checkpoint (and generator) reproduces the score in the JSON.
  again = evaluator.evaluate(eval_options.Options(workdir=workdir, checkpoint=best["checkpoint"],
                                               metrics="swd", num_samples=64,
                                               use_ema=best["generator"] == "ema"))
  assert again["step"] == best["step"]
  # The same float32 ops on the same weights and z: bit for bit on a CPU (measured). On a
  # GPU another cuDNN algorithm rounds in another order (~1e-6 relative per conv), which
  # can move ~1e-4 of the uint8 pixels by one level: SWD then moves by ~2e-7 relative
  # (a float16 G's 0.6% of such pixels moves it by 1.4e-5), 50x below rel 1e-5.
  assert again["metrics"]["swd"]["value"] == pytest.approx(best["value"], rel=1e-5)


def test_auto_metrics_use_a_cached_classifier_only(tmp_path, monkeypatch):
  from dcgan_tf import models
  from dcgan_tf.evaluate.context import Context
  from dcgan_tf.train import evaluation
  from dcgan_tf.workdir import Workdir
  config = tiny(eval_every=2)
  context = evaluation.make_context(config, Workdir(str(tmp_path)),
                                    models.build_generator(config))
  monkeypatch.setenv("DCGAN_TF_CACHE", str(tmp_path / "cache"))
  assert evaluation.resolve_metrics(config, context) == ("swd",)
  monkeypatch.setattr(Context, "has_cached_classifier", lambda self: True)
  assert evaluation.resolve_metrics(config, context) == ("fid", "kid")
  assert evaluation.resolve_metrics(config.replace(eval_metrics="kid,swd"), context) == (
      "kid", "swd")


def test_training_evaluates_with_evaluates_defaults_whatever_the_seed(tmp_path):
  """The Context of evaluation during training draws as `evaluate --seed=0` does, not from
  the run's --seed: the number it logs is the one evaluate reproduces by default."""
  from dcgan_tf import models
  from dcgan_tf.evaluate.context import Settings
  from dcgan_tf.train import evaluation
  from dcgan_tf.workdir import Workdir
  config = tiny(seed=7, eval_every=2, eval_samples=64)
  context = evaluation.make_context(config, Workdir(str(tmp_path)),
                                    models.build_generator(config))
  assert context.settings == Settings(num_samples=64, seed=eval_options.Options.seed,
                                      feature_extractor="classifier")


def test_each_periodic_evaluation_scores_the_generator_as_it_is_then(tmp_path):
  """A later evaluation draws G's images afresh: after G changes, its score is that of the
  changed G, not of the images drawn at the first evaluation."""
  from dcgan_tf import models
  from dcgan_tf.evaluate import evaluator
  from dcgan_tf.train import evaluation
  from dcgan_tf.workdir import Workdir

  class Best:  # checkpoints.BestCheckpoint without the checkpoint
    record = None

    def save(self, step, record):
      self.record = dict(record, step=step)

  config = tiny(eval_every=1, eval_samples=64, eval_metrics="swd")
  g, workdir = models.build_generator(config), Workdir(str(tmp_path))
  periodic = evaluation.PeriodicEval(None, evaluation.make_context(config, workdir, g), ("swd",),
                                     config, Best(), tf.summary.create_noop_writer(),
                                     {"trained": g}, final_step=10)
  first = periodic.evaluate(1)["swd"]
  g.set_weights([np.zeros_like(w) for w in g.get_weights()])  # G draws one grey image now
  second = periodic.evaluate(2)["swd"]
  fresh = evaluator.headline(evaluator.score(evaluation.make_context(config, workdir, g),
                                             ("swd",))[0])["swd"]
  # The same float32 ops on the same weights, z and real images in one process: equal up to
  # another kernel choice on a GPU (~1e-6 relative per op), far under rel 1e-5.
  assert second != first and second == pytest.approx(fresh, rel=1e-5)


def test_the_better_generator_is_chosen_by_the_best_metric_and_forgotten_on_rollback():
  from dcgan_tf.train import evaluation
  periodic = evaluation.PeriodicEval.__new__(evaluation.PeriodicEval)
  periodic.best_metric = "fid"
  nan = float("nan")
  for scores, chosen in (({"ema": {"fid": 2.0}, "trained": {"fid": 1.0}}, "trained"),
                         ({"ema": {"fid": 1.0}, "trained": {"fid": 2.0}}, "ema"),
                         ({"ema": {"fid": 1.0}, "trained": {"fid": 1.0}}, "ema"),  # a tie
                         ({"ema": {"fid": nan}, "trained": {"fid": 3.0}}, "trained"),
                         ({"ema": {"fid": nan}, "trained": {"fid": nan}}, "ema"),
                         ({"trained": {"kid": 1.0}}, "trained")):
    assert periodic.choose(scores) == chosen, scores
  # A rollback to before the last evaluation forgets it: the redone step is evaluated again.
  periodic.last_step, periodic.choice = 6, (6, "trained", {})
  periodic.begin(6)  # a fit resumed where it stopped keeps it
  assert periodic.choice == (6, "trained", {})
  periodic.begin(4)
  assert periodic.last_step is None and periodic.choice is None


def test_a_run_without_eval_every_exports_the_better_generator_by_one_last_evaluation(
    tmp_path, monkeypatch):
  """--export_generator=best (the default) without --eval_every: both Gs are scored at the
  last step, the export says which it ships and with what scores, no best checkpoint."""
  from dcgan_tf.export import metadata
  from dcgan_tf.sample import plots
  from dcgan_tf.train import evaluation, loop
  chosen = []

  def choose(self, scores):  # the trained G, whatever the scores: the export must follow
    chosen.append(scores)
    return "trained"

  monkeypatch.setattr(evaluation.PeriodicEval, "choose", choose)
  workdir = str(tmp_path / "run")
  summary = loop.train(tiny(export=True, export_generator="best", eval_samples=64), workdir)
  assert [sorted(s) for s in chosen] == [["ema", "trained"]]  # once, both Gs
  final = metadata.read(summary["saved_model"])
  assert final["generator"] == "trained" and final["step"] == 2
  scores = final["scores"]
  assert scores["metric"] == "swd" and scores["num_samples"] == 64
  assert scores["value"] == scores["candidates"]["trained"]["swd"]  # the shipped G's score
  assert scores["candidates"]["ema"]["swd"] != scores["candidates"]["trained"]["swd"]
  # Logged like an evaluation during training; no best checkpoint, no saved_model_best.
  curve = plots.read_scalars(os.path.join(workdir, "tensorboard"))
  assert list(curve["eval/swd"][0]) == list(curve["eval/trained/swd"][0]) == [2]
  assert "saved_model_best" not in summary
  assert not os.path.exists(os.path.join(workdir, "checkpoints", "best"))


class LastStep:
  """evaluation.PeriodicEval's interface: `end(step)` scores the last step into `choice`."""

  def __init__(self, candidates):
    self.candidates, self.choice = candidates, None

  def end(self, step):
    record = dict(metric="swd", value=min(v["swd"] for v in self.candidates.values()),
                  metrics=min(self.candidates.values(), key=lambda v: v["swd"]),
                  generator=min(self.candidates, key=lambda n: self.candidates[n]["swd"]))
    if len(self.candidates) > 1:
      record["candidates"] = self.candidates
    record["protocol"] = dict(generator=record["generator"], generated=64)
    self.choice = (step, record["generator"], record)


@pytest.mark.parametrize("overrides,candidates,expected", [
    (dict(export_generator="trained"), None, (2, "trained", None)),  # nothing evaluated
    (dict(export_generator="ema"), None, (2, "ema", None)),
    (dict(export_generator="best"), None, None),  # no evaluation (multi-worker): the EMA G
    (dict(export_generator="best"), {"ema": 2.0, "trained": 1.0}, ("trained", 1.0)),
    (dict(export_generator="best", ema_decay=0.0), {"trained": 3.0}, ("trained", 3.0)),
    # Forced, with the last step evaluated (--eval_every): that G, with its own scores.
    (dict(export_generator="ema"), {"ema": 2.0, "trained": 1.0}, ("ema", 2.0)),
    (dict(export_generator="trained", ema_decay=0.0), {"trained": 3.0}, ("trained", 3.0))])
def test_the_final_export_ships_the_generator_export_generator_names(overrides, candidates,
                                                                      expected):
  from dcgan_tf.train import loop
  evaluator = LastStep({n: {"swd": v} for n, v in candidates.items()}) if candidates else None
  choice = loop.final_choice(tiny(export=True, **overrides), evaluator, 2)
  if candidates is None:
    assert choice == expected
  else:
    step, name, record = choice
    assert (step, name) == (2, expected[0]) and record["generator"] == name
    assert record["protocol"]["generator"] == name  # what the exported numbers were made of
    assert record["value"] == record["metrics"]["swd"] == expected[1]


@pytest.mark.parametrize("overrides,message", [
    (dict(eval_metrics="swd,bogus"), "^eval_metrics: "), (dict(eval_every=-1), "^eval_every: "),
    (dict(eval_metrics="swd", eval_best="fid"), "^eval_best: "),
    (dict(eval_metrics="precision,fid", eval_best="precision"), "lower-is-better"),
    (dict(eval_samples=1),
                                                                 "^eval_samples: "),
    (dict(eval_every=10, strategy="multiworker"), "^eval_every: "),
    # Evaluation settings without evaluation would be ignored without a word.
    (dict(eval_best="fid"), "^eval_best: only used with eval_every"),
    (dict(eval_metrics="swd"), "^eval_metrics: only used with eval_every"),
    (dict(eval_metrics="swd", export=True, export_generator="ema"), "^eval_metrics: only used"),
    (dict(eval_metrics="swd", export=True, export_generator="best", strategy="multiworker"),
     "^eval_metrics: only used"),  # multi-worker runs do not evaluate
    (dict(eval_metrics="precision", export=True, export_generator="best"),
     "^eval_metrics: export_generator=best picks by a lower-is-better"),
    (dict(export_generator="raw"), "^export_generator: got 'raw'"),
    (dict(export_generator="ema", ema_decay=0.0), "^export_generator: ema needs an EMA")])
def test_eval_flags_are_checked(overrides, message):
  from dcgan_tf import config as config_lib
  with pytest.raises(UserError, match=message):
    config_lib.validate(tiny(**overrides))


def test_a_real_pool_draws_from_the_splits_first_images_only():
  """--real_pool=N (and the final export's choice on a large split): the real images come
  from the split's first N in stored order, and the protocol says so."""
  from dcgan_tf import models
  from dcgan_tf.evaluate.context import load_images
  from dcgan_tf.train import evaluation
  from dcgan_tf.workdir import Workdir
  first, _, _ = load_images(tiny(), None, seed=0, pool=100)  # all of the first 100 (1,797)
  drawn, _, _ = load_images(tiny(), 30, seed=0, pool=100)
  anywhere, _, _ = load_images(tiny(), 30, seed=0)
  assert len(first) == 100 and len(drawn) == 30

  def within(images):  # each image equals one of the first 100, pixel for pixel
    return [any(np.array_equal(x, y) for y in first) for x in images]

  assert all(within(drawn))
  assert not all(within(anywhere))  # 30 uniform draws of 1,797 all in the first 100: ~1e-38
  context = evaluation.make_context(tiny(), Workdir("unused"), models.build_generator(tiny()),
                                    real_pool=100)
  assert context.protocol()["real_split"] == "digits:train, first 100"


def test_real_sample_does_not_depend_on_the_global_seed():
  """Training (global seed = --seed) and evaluate (none) must draw the same real images."""
  from dcgan_tf.evaluate.context import load_images
  tf.random.set_seed(1)
  a, la, _ = load_images(tiny(), 100, seed=0)
  tf.random.set_seed(2)
  b, lb, _ = load_images(tiny(), 100, seed=0)
  np.testing.assert_array_equal(a, b)  # the same CPU pipeline and seed: bit for bit
  np.testing.assert_array_equal(la, lb)
  c, _, _ = load_images(tiny(), 100, seed=1)
  assert not np.array_equal(a, c)
