"""evaluate: one JSON object out, W/eval/*.json and TensorBoard scalars written, checkpoints
picked by step, the conditional generator handled, user errors on one line."""

import json
import os

import numpy as np
import pytest

from conftest import run_module, tiny
from dcgan_tf.errors import UserError


def train_tiny(workdir, **overrides):
  """A real trainer workdir (digits, 8 filters) after a couple of steps."""
  from dcgan_tf.train import loop
  loop.train(tiny(**overrides), workdir)
  return workdir


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
  # Checkpoints at steps 1 and 2, so --checkpoint can pick the older one.
  return train_tiny(str(tmp_path_factory.mktemp("eval") / "run"), train_steps=2,
                    checkpoint_every=1)


@pytest.fixture(scope="module")
def options():
  from dcgan_tf.evaluate import evaluator

  def make(cache, **kw):
    base = dict(num_samples=48, batch_size=32, classifier_examples=300, classifier_epochs=1,
                realfake_epochs=1, svm_train_examples=200, svm_test_examples=200,
                cache_dir=str(cache))
    base.update(kw)
    return evaluator.Options(**base)
  return make


def test_all_offline_metrics_in_process(workdir, options, tmp_path):
  from dcgan_tf.evaluate import evaluator
  from dcgan_tf.sample import plots
  results = evaluator.evaluate(options(tmp_path, workdir=workdir,
                                       metrics="swd,fid,kid,is,svm,realfake",
                                       feature_extractor="classifier"))
  m = results["metrics"]
  assert results["step"] == 2 and results["checkpoint"].endswith("ckpt-2")
  assert set(m) == {"swd", "fid", "kid", "is", "svm", "realfake"}
  assert m["fid"]["value"] >= 0 and m["fid"]["feature_extractor"].startswith("classifier:digits")
  assert 0 <= m["realfake"]["value"] <= 1 and m["realfake"]["ideal"] == 0.5
  assert set(m["swd"]["levels"]) == {"32", "16"}
  assert 1 <= m["is"]["value"] <= 10
  assert [r["method"] for r in m["svm"]["rows"]][:2] == ["LinearSVC on D (trained) features",
                                                          "LinearSVC on D (random init) features"]
  saved = json.load(open(os.path.join(workdir, "eval", "step_0000002.json")))
  assert saved["metrics"]["swd"]["value"] == pytest.approx(m["swd"]["value"])
  scalars = plots.read_scalars(os.path.join(workdir, "tensorboard", "eval"))
  assert {"swd", "swd/32px", "fid/classifier", "svm", "realfake"} <= set(scalars)
  assert list(scalars["swd"][0]) == [2]
  # Cached real features and classifier: a second run reuses them.
  cached = sorted(os.listdir(tmp_path))
  assert any(f.startswith("classifier_digits") and f.endswith(".keras") for f in cached)
  assert any(f.startswith("real_features_digits") for f in cached)
  again = evaluator.evaluate(options(tmp_path, workdir=workdir, metrics="fid",
                                     feature_extractor="classifier"))
  assert again["metrics"]["fid"]["value"] == pytest.approx(m["fid"]["value"], rel=1e-5)


def test_inception_metrics_code_path_with_random_weights(workdir, options, tmp_path):
  from dcgan_tf.evaluate import evaluator
  results = evaluator.evaluate(options(tmp_path, workdir=workdir, metrics="fid,kid,is",
                                       num_samples=4, inception_weights="random"))
  # 299x299 resize, 2048-d pool features (FID/KID) and 1000 logits (IS) of InceptionV3.
  for name in ("fid", "kid", "is"):
    assert np.isfinite(results["metrics"][name]["value"])
    assert "random_init" in results["metrics"][name]["feature_extractor"]
  assert 1 <= results["metrics"]["is"]["value"] <= 1000


def test_cli_prints_one_json_object_for_an_older_checkpoint(workdir, tmp_path):
  result = run_module("dcgan_tf.evaluate", f"--workdir={workdir}", "--metrics=swd",
                      "--num_samples=32", "--checkpoint=1", f"--cache_dir={tmp_path}")
  assert result.returncode == 0, result.stderr[-2000:]
  results = json.loads(result.stdout)  # the whole of stdout is one JSON object
  assert results["step"] == 1 and results["checkpoint"].endswith("ckpt-1")
  assert os.path.isfile(os.path.join(workdir, "eval", "step_0000001.json"))


def test_cli_user_error_is_one_line(workdir):
  result = run_module("dcgan_tf.evaluate", f"--workdir={workdir}", "--checkpoint=999")
  assert result.returncode == 1 and "Traceback" not in result.stderr
  assert "--checkpoint: no checkpoint" in result.stderr and "ckpt-2" in result.stderr


@pytest.mark.parametrize("kw, error, message", [
    (dict(metrics="swd,bogus"), UserError, "--metrics: unknown bogus"),
    (dict(metrics="fid", feature_extractor="vgg"), UserError, "--feature_extractor"),
    (dict(svm_features="middle"), UserError, "--svm_features"),
    (dict(checkpoint="ckpt-7"), UserError, "--checkpoint"),
])
def test_user_errors_name_the_flag(workdir, options, tmp_path, kw, error, message):
  from dcgan_tf.evaluate import evaluator
  with pytest.raises(error, match=message):
    evaluator.evaluate(options(tmp_path, workdir=workdir, **kw))


def test_missing_workdir_names_the_flag(tmp_path, options):
  from dcgan_tf.evaluate import evaluator
  with pytest.raises(UserError, match="--workdir: .*config.json not found"):
    evaluator.evaluate(options(tmp_path, workdir=str(tmp_path / "nope")))


def test_conditional_generator_is_evaluated_with_uniform_labels(tmp_path, options):
  from dcgan_tf import inference
  from dcgan_tf.evaluate import evaluator
  workdir = train_tiny(str(tmp_path / "cond"), variant="cdcgan", train_steps=1)
  run = inference.load_run(workdir)
  assert run.num_classes == 10
  labels = inference.random_labels(1000, 10, seed=0)
  assert set(labels) == set(range(10)) and max(np.bincount(labels)) < 140
  results = evaluator.evaluate(options(tmp_path / "cache", workdir=workdir, metrics="swd,svm"))
  assert results["variant"] == "cdcgan" and results["metrics"]["svm"]["value"] > 0.3
