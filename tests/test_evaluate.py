"""evaluate: one JSON object out, W/eval/*.json and TensorBoard scalars written, checkpoints
picked by step, the conditional generator handled, user errors on one line."""

import json
import os

import numpy as np
import pytest

from conftest import CLASSIFIER_GROUP, TRUSTED_CLASSIFIER, run_module, tiny
from dcgan_tf.errors import UserError
from dcgan_tf.evaluate import options as eval_options


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
  def make(cache, **kw):
    base = dict(num_samples=48, batch_size=32, classifier_examples=300, classifier_epochs=1,
                realfake_epochs=1, svm_train_examples=200, svm_test_examples=200,
                cache_dir=str(cache))
    base.update(kw)
    return eval_options.Options(**base)
  return make


def test_all_offline_metrics_in_process(workdir, options, tmp_path, request):
  import tensorflow as tf
  from dcgan_tf.evaluate import evaluator
  # Float32 convolutions in float32 on any device, for the FID recomputed below: with
  # TF32 (Ampere GPUs) the classifier's features would round to 10-bit mantissas.
  tf32 = tf.config.experimental.tensor_float_32_execution_enabled()
  tf.config.experimental.enable_tensor_float_32_execution(False)
  request.addfinalizer(lambda: tf.config.experimental.enable_tensor_float_32_execution(tf32))
  from dcgan_tf.sample import plots
  results = evaluator.evaluate(options(tmp_path, workdir=workdir,
                                       metrics="swd,fid,kid,is,svm,realfake",
                                       feature_extractor="classifier"))
  m = results["metrics"]
  assert results["step"] == 2 and results["checkpoint"].endswith("ckpt-2")
  assert set(m) == {"swd", "fid", "kid", "is", "svm", "realfake"}
  assert m["fid"]["feature_extractor"].startswith("classifier:digits")
  assert m["realfake"]["ideal"] == 0.5 and m["realfake"]["test"] == 48  # half of 2 x 48 images
  assert set(m["swd"]["levels"]) == {"32", "16"}
  assert [r["method"] for r in m["svm"]["rows"]][:2] == ["LinearSVC on D (trained) features",
                                                          "LinearSVC on D (random init) features"]
  saved = json.load(open(os.path.join(workdir, "eval", "step_0000002.json")))
  # The same float64 through JSON (repr round-trips exactly): approx is a formality.
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
  # Cached real features, the reloaded classifier on the same images: bit for bit on a CPU
  # (measured). On a GPU another cuDNN algorithm may sum the fake features in another
  # order, ~1e-6 relative; FID passes a random relative feature error d on as ~0.02 d
  # (measured: 1e-6 -> 1.6e-8), so rel 1e-5 holds up to d ~ 5e-4: float32 rounding by far,
  # not TF32's ~1e-3 (turned off above).
  assert again["metrics"]["fid"]["value"] == pytest.approx(m["fid"]["value"], rel=1e-5)


def _small_inception(calls):
  """A stand-in for keras.applications.InceptionV3: the same input size, an `avg_pool` layer
  and 1000 logits, a few hundred weights. Records the `weights` it is asked to load."""
  import keras

  def build(weights=None, classifier_activation=None):
    calls.append(weights)
    inputs = keras.Input((299, 299, 3))
    h = keras.layers.Conv2D(8, 16, strides=16, activation="relu")(inputs)
    h = keras.layers.GlobalAveragePooling2D(name="avg_pool")(h)
    assert weights is None or os.path.isfile(weights), weights  # a file: never a download
    return keras.Model(inputs, keras.layers.Dense(1000)(h))
  return build


def test_inception_metrics_load_weights_from_the_keras_cache(workdir, options, tmp_path,
                                                             monkeypatch):
  """--feature_extractor=inception with weights from the Keras cache (never a download):
  299x299 inputs, avg_pool features for FID/KID, 1000 logits for IS."""
  import keras
  from dcgan_tf.evaluate import evaluator
  from dcgan_tf.evaluate.metrics import extractors
  calls = []
  monkeypatch.setattr(keras.applications, "InceptionV3", _small_inception(calls))
  monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
  cached = extractors.keras_cache_path()
  os.makedirs(os.path.dirname(cached))
  open(cached, "wb").close()  # stands in for the downloaded weights file
  results = evaluator.evaluate(options(tmp_path, workdir=workdir, metrics="fid,kid,is",
                                       num_samples=8))
  assert calls == [cached]  # the cache file, by path
  for name in ("fid", "kid", "is"):
    assert np.isfinite(results["metrics"][name]["value"])
    assert results["metrics"][name]["feature_extractor"] == "inception_v3_keras_imagenet"


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


def test_settings_are_evaluate_options_but_what_picks_the_generator_and_metrics():
  """Context's Settings mirror evaluate's options field by field (Settings.from_options);
  an option the Context reads must be added to both: only these stay out of it."""
  import dataclasses
  from dcgan_tf.evaluate.context import Settings
  options = {f.name: f for f in dataclasses.fields(eval_options.Options)}
  settings = {f.name: f for f in dataclasses.fields(Settings)}
  assert set(options) - set(settings) == {"workdir", "checkpoint", "saved_model", "use_ema",
                                          "metrics", "truncation"}
  for name, field in settings.items():  # the same defaults: training evaluates as evaluate
    assert field.default is dataclasses.MISSING or field.default == options[name].default


def test_score_times_each_metric(monkeypatch):
  """score() returns each metric's result and the seconds it took (what evaluate writes as
  results["seconds"]), timed on a fake clock: exact, whatever the machine's load."""
  import types
  from dcgan_tf.evaluate import evaluator
  clock = iter([100.0, 100.25, 200.0, 201.5])
  monkeypatch.setattr(evaluator, "time", types.SimpleNamespace(perf_counter=lambda: next(clock)))
  monkeypatch.setattr(evaluator, "METRIC_FNS", {"a": lambda ctx: dict(value=1.0),
                                                "b": lambda ctx: dict(value=2.0, extra=3)})
  ctx = types.SimpleNamespace(samples=types.SimpleNamespace(truncation=None))
  results, seconds = evaluator.score(ctx, ["a", "b"])
  assert results == {"a": dict(value=1.0), "b": dict(value=2.0, extra=3)}
  assert seconds == {"a": 0.25, "b": 1.5}


@pytest.mark.parametrize("kw, error, message", [
    (dict(metrics="swd,bogus"), UserError, "^metrics: unknown bogus"),
    (dict(metrics="fid", feature_extractor="vgg"), UserError, "^feature_extractor: "),
    (dict(svm_features="middle"), UserError, "^svm_features: "),
    (dict(real_pool=-1), UserError, "^real_pool: must be >= 0"),
    (dict(checkpoint="ckpt-7"), UserError, "^checkpoint: no checkpoint '?ckpt-7"),
])
def test_user_errors_name_the_flag(workdir, options, tmp_path, kw, error, message):
  from dcgan_tf.evaluate import evaluator
  with pytest.raises(error, match=message):
    evaluator.evaluate(options(tmp_path, workdir=workdir, **kw))


def test_missing_workdir_names_the_flag(tmp_path, options):
  from dcgan_tf.evaluate import evaluator
  with pytest.raises(UserError, match="^workdir: .*config.json not found"):
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


@pytest.mark.heavy
@CLASSIFIER_GROUP
def test_intra_class_fid_tells_a_generator_that_ignores_its_labels(tmp_path, options,
                                                                  monkeypatch, classifier_cache):
  """Known answers: a "generator" returning real digits of the asked class, and one returning
  digits of the next class (class-wise wrong, the same marginal distribution)."""
  from dcgan_tf import inference
  from dcgan_tf.evaluate import context, evaluator
  workdir = train_tiny(str(tmp_path / "cond"), variant="cdcgan", train_steps=1)
  n = 500
  images, labels, _ = context.load_images(inference.load_run(workdir).config, None, seed=3)
  rng = np.random.default_rng(0)
  asked = inference.random_labels(n, 10, seed=0)  # Samples.labels at --seed=0
  results = {}
  for name, shift in (("right", 0), ("next class", 1)):
    fake = np.stack([images[rng.choice(np.flatnonzero(labels == (c + shift) % 10))]
                     for c in asked])
    monkeypatch.setattr(context.Samples, "images", property(lambda self, fake=fake: fake))
    results[name] = evaluator.evaluate(options(
        classifier_cache, workdir=workdir, metrics="intra_fid,fid", num_samples=n,
        feature_extractor="classifier", **TRUSTED_CLASSIFIER))["metrics"]
  right, wrong = results["right"], results["next class"]
  # Both have the data's marginal: the overall FID cannot tell them apart (measured 0.67
  # and 0.55 with the trusted classifier, under 1% of the shifted one's intra-class FID, 124).
  assert right["fid"]["value"] < 0.05 * wrong["intra_fid"]["value"]
  assert wrong["fid"]["value"] < 0.05 * wrong["intra_fid"]["value"]
  # Class by class the shifted one is far off; the right one is the sampling noise of ~50
  # images per class (measured 2.5 against 124: 50x apart; 10x is the margin).
  assert right["intra_fid"]["value"] * 10 < wrong["intra_fid"]["value"]
  assert set(wrong["intra_fid"]["per_class"]) == {str(c) for c in range(10)}
  assert wrong["intra_fid"]["worst"] == max(wrong["intra_fid"]["per_class"].values())


@pytest.mark.heavy
@CLASSIFIER_GROUP
def test_metrics_score_a_perfect_and_a_collapsed_generator(workdir, options, classifier_cache,
                                                           monkeypatch):
  """Known answers through evaluate(): a "generator" that returns held-out real digits, and
  one that repeats a single real image (total mode collapse)."""
  from dcgan_tf.evaluate import context, evaluator
  n = 400
  config = tiny()
  real = context.load_images(config, n, seed=0)[0]  # what Context.real draws (--seed=0)
  held_out = context.load_images(config.replace(seed=1), 1797, seed=1)[0]
  real_set = {im.tobytes() for im in real}
  held_out = np.stack([im for im in held_out if im.tobytes() not in real_set][:n])
  assert len(held_out) == n
  results = {}
  for name, fake in (("perfect", held_out), ("collapsed", np.repeat(held_out[:1], n, 0))):
    monkeypatch.setattr(context.Samples, "images", property(lambda self, fake=fake: fake))
    results[name] = evaluator.evaluate(options(
        classifier_cache, workdir=workdir, metrics="fid,kid,is,swd,realfake,prdc,memorization",
        num_samples=n, feature_extractor="classifier", realfake_epochs=3,
        **TRUSTED_CLASSIFIER))["metrics"]
  perfect, collapsed = results["perfect"], results["collapsed"]
  assert perfect["is"]["classifier_held_out_accuracy"] > 0.8  # features worth trusting
  assert perfect["fid"]["value"] < 0.05 * collapsed["fid"]["value"]
  assert collapsed["fid"]["value"] > 10
  # KID is unbiased: 0 +- sampling noise (measured 1.5e-3, collapsed 5.5): 1% of it is 35x.
  assert abs(perfect["kid"]["value"]) < 0.01 * collapsed["kid"]["value"]
  assert 0.35 <= perfect["realfake"]["value"] <= 0.65  # chance: cannot tell them apart
  assert collapsed["realfake"]["value"] > 0.9
  # Sampling: each IS is a mean over 10 splits of 40 images that vary by ~6% (std 0.35 of
  # 6.2), so two sets of one distribution differ by ~sqrt(2 / 10) x 6% = 2.5%: rel 0.15 is
  # 6 of those (measured 0.4%).
  assert perfect["is"]["value"] == pytest.approx(perfect["is"]["real_data_value"], rel=0.15)
  assert perfect["is"]["value"] > 5 and collapsed["is"]["value"] < 1.2
  assert perfect["is"]["classes_covered"] == 10 and collapsed["is"]["classes_covered"] == 1
  assert perfect["swd"]["value"] < 0.5 * collapsed["swd"]["value"]
  # Fidelity and diversity apart: the collapsed G's one image is a real digit (precision
  # high) that covers almost nothing (recall, coverage ~0); held-out digits score like the
  # reals (P, R, C well above the collapse; density around 1: the same distribution).
  assert collapsed["precision"]["value"] == 1.0
  assert collapsed["recall"]["value"] < 0.02 and collapsed["coverage"]["value"] < 0.05
  for name in ("precision", "recall", "coverage"):
    assert perfect[name]["value"] > 0.6, (name, perfect[name])
  assert 0.6 < perfect["density"]["value"] < 1.5
  # Digits has one split: the "held-out" digits are training images too, so memorisation
  # (against the whole training split) flags every one of them: exact copies, distance 0.
  assert perfect["memorization"]["value"] == 1.0
  assert perfect["memorization"]["train_examples"] == 1797


@pytest.mark.heavy
def test_every_result_records_its_protocol_and_other_protocols_are_not_merged(
    workdir, options, tmp_path, caplog):
  from dcgan_tf.evaluate import evaluator
  first = evaluator.evaluate(options(tmp_path, workdir=workdir, metrics="swd"))
  protocol = first["protocol"]
  assert (protocol["generated"], protocol["real"], protocol["generator"], protocol["seed"]) == (
      48, 48, "ema", 0)
  assert protocol["real_split"] == "digits:train" and "bilinear" in protocol["resize"]
  second = evaluator.evaluate(options(tmp_path, workdir=workdir, metrics="precision",
                                      feature_extractor="classifier"))
  assert second["protocol"]["feature_extractor"].startswith("classifier:digits")
  assert len(second["protocol"]["extractor_weights_sha256"]) == 16
  saved = json.load(open(second["file"]))
  assert set(saved["metrics"]) >= {"swd", "precision"}  # one protocol: merged
  # Another sample count is another protocol: the older numbers are replaced, with a warning.
  third = evaluator.evaluate(options(tmp_path, workdir=workdir, metrics="swd", num_samples=40))
  saved = json.load(open(third["file"]))
  assert set(saved["metrics"]) == {"swd"} and saved["protocol"]["generated"] == 40
  assert any("another protocol (generated, real)" in r.getMessage() for r in caplog.records)
  # Another step's file of the first protocol: warned about as not comparable.
  # A step no other test writes.
  older = os.path.join(os.path.dirname(third["file"]), "step_0000999.json")
  with open(older, "w") as f:
    json.dump(dict(protocol=protocol, metrics={}), f)
  caplog.clear()
  evaluator.evaluate(options(tmp_path, workdir=workdir, metrics="swd", num_samples=40))
  assert any("step_0000999.json was evaluated with another protocol (generated, real)" in
             r.getMessage() for r in caplog.records)
  os.remove(older)
  # --fake_split: real images in G's place, recorded as such; never the real images' split.
  reference = evaluator.evaluate(options(tmp_path, workdir=workdir, metrics="swd",
                                         real_split="train[:900]", fake_split="train[900:]"))
  assert reference["protocol"]["generator"] == "real:train[900:]"
  with pytest.raises(UserError, match="^fake_split: 'train' is the split the real images"):
    evaluator.evaluate(options(tmp_path, workdir=workdir, metrics="swd", fake_split="train"))


def test_truncation_curve_scores_each_t_and_plots_it(workdir, options, tmp_path):
  import tensorflow as tf
  from dcgan_tf.evaluate import evaluator
  results = evaluator.evaluate(options(tmp_path, workdir=workdir, metrics="swd",
                                       truncation="0.05,3"))
  curve = results["truncation_curve"]
  assert [row["truncation"] for row in curve] == [0.05, 3.0] and set(curve[0]) == {
      "truncation", "swd"}
  # z within +-0.05 collapses G onto nearly one image: far from the real digits' spread.
  assert curve[0]["swd"] > 1.2 * curve[1]["swd"]  # measured 1.43x (a 2-step G, half collapsed)
  assert results["protocol"]["truncation"] is None  # results["metrics"]: untruncated
  png = tf.io.decode_png(open(results["truncation_plot"], "rb").read()).numpy()
  assert png.shape[0] > 100 and png.std() > 0
  with pytest.raises(UserError, match="^truncation: want"):
    evaluator.evaluate(options(tmp_path, workdir=workdir, metrics="swd", truncation="0,1"))
