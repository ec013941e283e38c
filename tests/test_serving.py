"""Serving: the TF Serving layout, request limits, truncation, PNG output, warm-up, metadata,
and the ONNX / TFLite files checked against the SavedModel (conditional ones in
test_export_conditional.py)."""

import os
import resource

import numpy as np
import pytest
import tensorflow as tf

from conftest import tiny
from dcgan_tf.errors import UserError

STEPS = 2
LATENT = 16  # tiny()'s latent_dim


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
  from dcgan_tf.train import loop
  workdir = str(tmp_path_factory.mktemp("serving") / "run")
  loop.train(tiny(train_steps=STEPS, export=True), workdir)
  return workdir


@pytest.fixture(scope="module")
def served(workdir):
  """The training-time export as TF Serving would load it: BASE/STEP."""
  return tf.saved_model.load(os.path.join(workdir, "serving", str(STEPS)))


def _export(workdir, out, **kw):
  from dcgan_tf.export import options, savedmodel
  return savedmodel.export_from_workdir(options.ExportOptions(workdir=workdir, out=out, **kw))


def test_training_publishes_a_versioned_base_with_metadata(workdir):
  from dcgan_tf.export import metadata, serving
  base = os.path.join(workdir, "serving")
  assert serving.versions(base) == [STEPS]
  assert sorted(os.listdir(base)) == [str(STEPS)]  # no temporary folder left behind
  info = metadata.read(os.path.join(base, str(STEPS)))
  assert info == metadata.read(os.path.join(workdir, "saved_model"))
  assert (info["dataset"], info["variant"], info["step"], info["generator"]) == (
      "digits", "dcgan", STEPS, "ema")  # the default --ema_decay=0.999
  assert (info["image_size"], info["channels"], info["latent_dim"], info["num_classes"],
          info["max_batch"]) == (32, 1, LATENT, 0, 1024)
  assert info["versions"]["tensorflow"] == tf.__version__


def test_saved_model_holds_each_weight_once(workdir):
  """The variables file is G's float32 weights (+ the checkpoint format's few bytes per
  tensor), not twice them (Keras' ExportArchive.track() would save a second copy)."""
  from dcgan_tf import inference
  run = inference.load_run(workdir, discriminator=False)
  weights = sum(v.numpy().nbytes for v in run.generator.variables)
  folder = os.path.join(workdir, "saved_model", "variables")
  data = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder)
             if f.startswith("variables.data"))
  assert weights <= data < 1.2 * weights, (data, weights)


def test_warmup_file_holds_prediction_logs_of_every_signature(workdir, served):
  pytest.importorskip("tensorflow_serving", reason="make install adds tensorflow-serving-api")
  from tensorflow_serving.apis import prediction_log_pb2
  path = os.path.join(workdir, "serving", str(STEPS), "assets.extra",
                      "tf_serving_warmup_requests")
  seen = []
  for record in tf.data.TFRecordDataset(path):
    request = prediction_log_pb2.PredictionLog.FromString(record.numpy()).predict_log.request
    name = request.model_spec.signature_name
    inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
    images = served.signatures[name](**inputs)  # each request is one the model accepts
    seen.append((name, len(inputs["z"]) if "z" in inputs else int(inputs["num"])))
    assert len(next(iter(images.values()))) == seen[-1][1]
  assert seen == [("serving_default", 1), ("serving_default", 8), ("serving_default", 64),
                  ("generate", 8), ("generate_truncated", 8), ("generate_png", 8)]


def test_warmup_is_a_logged_skip_without_the_serving_protos(tmp_path, monkeypatch):
  import sys
  from dcgan_tf.export import warmup
  for name in [m for m in sys.modules if m.startswith("tensorflow_serving")] + [
      "tensorflow_serving"]:
    monkeypatch.setitem(sys.modules, name, None)  # import -> ImportError
  path = str(tmp_path / "w")
  assert warmup.write(path, LATENT, 0, 8) == 0 and not os.path.exists(path)
  assert [n for n, _ in warmup.requests(LATENT, 0, 4)] == ["serving_default"] * 2 + [
      "generate", "generate_truncated", "generate_png"]  # sizes capped at max_batch: 1, 4


def test_requests_above_the_limit_fail_before_allocating(workdir, tmp_path):
  from dcgan_tf.export import metadata
  small = _export(workdir, str(tmp_path / "small"), max_batch=8)
  assert metadata.read(small)["max_batch"] == 8
  m = tf.saved_model.load(small)
  seed = tf.constant(0, tf.int64)
  assert m.signatures["generate"](num=tf.constant(8), seed=seed)["images"].shape[0] == 8
  for num in (9, -1):
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"num must be in \[0, 8\]"):
      m.signatures["generate"](num=tf.constant(num), seed=seed)
  with pytest.raises(tf.errors.InvalidArgumentError, match=r"rows of z must be in \[0, 8\]"):
    m.signatures["serving_default"](z=tf.zeros([9, LATENT]))
  # 2e9 images: z alone would be 128 GB. The check runs first, so the error is the limit's
  # and the process's peak memory does not move (without the check: ResourceExhaustedError
  # from the random op). ru_maxrss is in KiB on Linux; 64 MiB is noise headroom.
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  for name in ("generate", "generate_png"):
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"num must be in \[0, 8\]"):
      m.signatures[name](num=tf.constant(2_000_000_000), seed=seed)
  assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 64 * 1024
  # Read back as G (sample/evaluate --saved_model), the export is called in batches it
  # accepts; and a limit of 1 still exports (its own check sends 1 image).
  from dcgan_tf import inference
  run = inference.load_run(workdir, saved_model=small)
  assert inference.generate(run, np.zeros([20, LATENT], np.float32)).shape == (20, 32, 32, 1)
  one = tf.saved_model.load(_export(workdir, str(tmp_path / "one"), max_batch=1))
  assert one.signatures["generate"](num=tf.constant(1), seed=seed)["images"].shape[0] == 1


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_z_is_refused(served, bad):
  z = np.zeros([2, LATENT], np.float32)
  z[1, 3] = bad
  with pytest.raises(tf.errors.InvalidArgumentError, match="z must be finite"):
    served.signatures["serving_default"](z=tf.constant(z))


def test_truncation_bounds_z_and_replays_through_serving_default(served):
  from dcgan_tf.sample import pictures
  call = served.signatures["generate_truncated"]
  seed = tf.constant(3, tf.int64)
  with tf.device("/CPU:0"):  # bit-equal comparisons: the CPU's deterministic kernels
    half = call(num=tf.constant(16), seed=seed, truncation=tf.constant(0.5))
    two = call(num=tf.constant(16), seed=seed, truncation=tf.constant(2.0))
    replay = served.signatures["serving_default"](z=half["z"])["images"]
  assert np.abs(half["z"].numpy()).max() <= 0.5 < np.abs(two["z"].numpy()).max()
  assert np.array_equal(replay, half["images"])
  assert np.abs(half["images"].numpy().astype(int) - two["images"].numpy()).max() > 8
  # sample --truncation draws exactly these z (noise.py, one sampler for both).
  assert np.array_equal(half["z"].numpy(), pictures.truncated_latent(16, LATENT, 3, 0.5))
  # N(0,1) | |z| <= 0.5 has variance 1 - 2 t phi(t) / (2 Phi(t) - 1) = 0.0806; 256 draws give
  # a standard error of 0.0046 on it (from the fourth moment): 5 sigma is 0.023.
  assert np.var(half["z"].numpy()) == pytest.approx(0.0806, abs=0.023)
  for t in (0.0, -1.0):
    with pytest.raises(tf.errors.InvalidArgumentError, match="truncation must be > 0"):
      call(num=tf.constant(2), seed=seed, truncation=tf.constant(t))


def test_generate_draws_the_z_of_sample_and_evaluate(served):
  """generate(num, S) serves G on the z that `sample --seed=S` and `evaluate --seed=S` draw
  (inference.latent; noise.py's "sample_noise" stream)."""
  from dcgan_tf import inference
  with tf.device("/CPU:0"):  # bit-equal comparison: the CPU's deterministic kernels
    z = inference.latent(6, LATENT, 11)
    generated = served.signatures["generate"](num=tf.constant(6),
                                              seed=tf.constant(11, tf.int64))["images"]
    replayed = served.signatures["serving_default"](z=tf.constant(z))["images"]
    other = served.signatures["generate"](num=tf.constant(6), seed=tf.constant(12, tf.int64))
  assert np.array_equal(generated, replayed)
  assert not np.array_equal(generated, other["images"])


def test_generate_png_decodes_to_generate(served):
  seed = tf.constant(5, tf.int64)
  with tf.device("/CPU:0"):  # bit-equal comparison: the CPU's deterministic kernels
    pngs = served.signatures["generate_png"](num=tf.constant(3), seed=seed)["png_bytes"]
    images = served.signatures["generate"](num=tf.constant(3), seed=seed)["images"]
  assert pngs.dtype == tf.string and pngs.shape == (3,)
  assert np.array_equal(np.stack([tf.io.decode_png(p).numpy() for p in pngs.numpy()]), images)


def test_publish_keeps_the_newest_versions_and_replaces_a_step(tmp_path):
  from dcgan_tf.export import serving
  model, base = tmp_path / "model", str(tmp_path / "base")
  model.mkdir()
  for step in (5, 10, 20, 15):
    (model / "saved_model.pb").write_text(str(step))
    serving.publish(str(model), base, step, keep=2)
  assert serving.versions(base) == [15, 20]  # by number, as TF Serving orders them
  (model / "saved_model.pb").write_text("again")
  serving.publish(str(model), base, 20, keep=2)
  assert open(os.path.join(base, "20", "saved_model.pb")).read() == "again"
  assert sorted(os.listdir(base)) == ["15", "20"]
  # An older step published after newer ones is kept (and warned about), not pruned at once.
  serving.publish(str(model), base, 3, keep=2)
  assert serving.versions(base) == [3, 20]
  with pytest.raises(ValueError, match="step >= 0"):
    serving.publish(str(model), base, -1, keep=2)


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_converted_files_match_the_saved_model(workdir, served, fmt):
  from dcgan_tf.export import convert, metadata
  batch = 4
  path = _export(workdir, "", format=fmt, batch=batch)
  assert path == os.path.join(workdir, f"generator.{fmt}")
  info = metadata.read(path)
  assert (info["format"], info["step"], info["batch"]) == (
      fmt, STEPS, batch if fmt == "tflite" else "dynamic")
  z = np.random.default_rng(1).standard_normal((batch, LATENT)).astype(np.float32)
  with tf.device("/CPU:0"):
    expected = served.signatures["serving_default"](z=tf.constant(z))["images"].numpy()
  got = convert.run_file(path, [z])
  # Another runtime's float32 kernels sum in another order (~1e-6 relative), far below a
  # level (7.8e-3): uint8 images at most 1 apart.
  assert got.dtype == np.uint8 and got.shape == expected.shape
  assert np.abs(got.astype(int) - expected).max() <= 1
  if fmt == "onnx":  # a dynamic batch
    assert convert.run_file(path, [z[:3]]).shape[0] == 3


def test_export_flags_are_checked_before_tensorflow_work(workdir):
  from dcgan_tf.export import options
  for kw, message in ((dict(format="pb"), "^format: got 'pb'"),
                      (dict(max_batch=0), "^max_batch: must be >= 1, got 0"),
                      (dict(format="tflite", batch=0), "^batch: must be >= 1, got 0")):
    with pytest.raises(UserError, match=message):
      options.validate(options.ExportOptions(workdir=workdir, **kw))
  with pytest.raises(UserError, match="no readable dcgan_tf metadata"):
    from dcgan_tf.export import metadata
    metadata.read(workdir)


def test_sample_and_evaluate_read_an_export_back(workdir, tmp_path):
  """--saved_model: G is the served model, checked against the run by its metadata."""
  from dcgan_tf import inference
  from dcgan_tf.evaluate import evaluator, options as eval_options
  from dcgan_tf.sample import options as sample_options, pictures
  served_path = os.path.join(workdir, "serving", str(STEPS))
  run = inference.load_run(workdir, saved_model=served_path)
  assert (run.step, run.ema, run.discriminator) == (STEPS, True, None)

  def picture(**kw):
    out = str(tmp_path / "grid.png")
    pictures.make_picture(sample_options.SampleOptions(workdir=workdir, out=out, num=9, **kw))
    return tf.io.decode_png(open(out, "rb").read()).numpy()
  # The checkpoint's float G against the served uint8 images: the export rounds once, the
  # picture rounds the same values again (u / 127.5 - 1 maps back exactly): 1 level at most.
  assert np.abs(picture(saved_model=served_path).astype(int) - picture()).max() <= 1
  with pytest.raises(UserError, match="^saved_model: mode=kernels draws D's filters"):
    picture(saved_model=served_path, mode="kernels")
  with pytest.raises(UserError, match="^saved_model: give saved_model or checkpoint, not both"):
    picture(saved_model=served_path, checkpoint="2")

  results = evaluator.evaluate(eval_options.Options(
      workdir=workdir, saved_model=served_path, metrics="swd", num_samples=64, batch_size=32))
  assert os.path.basename(results["file"]) == f"export_step_{STEPS:07d}.json"
  assert results["saved_model"] == served_path and results["generator"] == "ema"
  assert np.isfinite(results["metrics"]["swd"]["value"])
  with pytest.raises(UserError, match="svm metric reads D"):
    evaluator.evaluate(eval_options.Options(workdir=workdir, saved_model=served_path,
                                            metrics="svm"))


def test_an_export_of_another_model_is_refused(workdir, tmp_path):
  import json
  import shutil
  from dcgan_tf import inference
  from dcgan_tf.export import metadata
  other = str(tmp_path / "other")
  shutil.copytree(os.path.join(workdir, "saved_model"), other)
  info = metadata.read(other)
  metadata.write(other, dict(info, latent_dim=info["latent_dim"] + 1))
  assert metadata.read(other) == dict(info, latent_dim=17)  # what is written is read back
  with pytest.raises(UserError, match=r"^saved_model: .* has latent_dim=17, the run .* "
                                      r"latent_dim=16"):
    inference.load_run(workdir, saved_model=other)
  metadata.write(other, dict(info, format_version=99))
  with pytest.raises(UserError, match="newer than this dcgan_tf reads"):
    inference.load_run(workdir, saved_model=other)
  assert json.load(open(metadata.path_of(other)))["format_version"] == 99  # round-trip
  with pytest.raises(UserError, match="^saved_model: no readable dcgan_tf metadata"):
    inference.load_run(workdir, saved_model=str(tmp_path))
  metadata.write(other, dict(info, format="onnx"))
  with pytest.raises(UserError, match="is a onnx export; give a SavedModel"):
    inference.load_run(workdir, saved_model=other)


def test_an_export_with_another_class_count_is_refused(workdir, tmp_path):
  """An export whose G takes labels (or other classes) cannot stand in for this run's G."""
  import shutil
  from dcgan_tf import inference
  from dcgan_tf.export import metadata
  other = str(tmp_path / "other")
  shutil.copytree(os.path.join(workdir, "saved_model"), other)
  metadata.write(other, dict(metadata.read(other), num_classes=10))
  with pytest.raises(UserError, match=r"^saved_model: .* has num_classes=10, the run .* "
                                      r"num_classes=0"):
    inference.load_run(workdir, saved_model=other)
