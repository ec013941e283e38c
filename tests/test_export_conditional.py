"""Conditional export: serving_default(z, labels) and generate(num, seed, label).

A tiny cdcgan is trained (train/loop.py, so the training-time export is what is
checked) and re-exported from its workdir (export_from_workdir, as
`python -m dcgan_tf.export` does); both SavedModels are then loaded in a
subprocess that cannot import dcgan_tf.
"""

import json
import os
import subprocess
import sys

import pytest

from conftest import tiny

LOADER = r"""
import json, sys
import numpy as np
import tensorflow as tf
try:
  import dcgan_tf
  raise SystemExit("dcgan_tf must not be importable here")
except ImportError:
  pass
latent = int(sys.argv[1])
report = {}
for path in sys.argv[2:]:
  m = tf.saved_model.load(path)
  serve, gen = m.signatures["serving_default"], m.signatures["generate"]
  z = tf.random.stateless_normal([4, latent], [1, 2])
  a = serve(z=z, labels=tf.constant([0, 1, 2, 9], tf.int32))["images"]
  a0 = serve(z=z, labels=tf.constant([0, 0, 0, 0], tf.int32))["images"]
  def g(num, seed, label):
    return gen(num=tf.constant(num), seed=tf.constant(seed, tf.int64),
               label=tf.constant(label))["images"].numpy()
  # Compared bit for bit: on the CPU, whose kernels are deterministic; a GPU's transposed
  # convolutions (cuDNN backward-data) may sum with atomics, moving a pixel by a level.
  with tf.device("/CPU:0"):
    b, c, d, e = g(5, 7, 3), g(5, 7, 3), g(5, 8, 3), g(5, 7, 4)
  try:
    g(2, 7, 10)
    bad_label = "accepted"
  except tf.errors.InvalidArgumentError as err:
    bad_label = "labels must be in [0, 10)" in err.message and "rejected"
  inputs = {name: {k: [v.dtype.name, v.shape.as_list()]
                   for k, v in fn.structured_input_signature[1].items()}
            for name, fn in (("serving_default", serve), ("generate", gen))}
  report[path] = dict(
      inputs=inputs, a_dtype=a.dtype.name, a_shape=a.shape.as_list(),
      labels_matter=bool(not np.array_equal(a.numpy()[1:], a0.numpy()[1:])),
      b_dtype=str(b.dtype), b_shape=list(b.shape), same=bool(np.array_equal(b, c)),
      seed_matters=bool(not np.array_equal(b, d)), label_matters=bool(not np.array_equal(b, e)),
      bad_label=bad_label)
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
  from dcgan_tf.export import options as export_options
  from dcgan_tf.export import savedmodel
  from dcgan_tf.train import loop
  root = tmp_path_factory.mktemp("cond")
  workdir = str(root / "run")
  config = tiny(variant="cdcgan", embedding_dim=5, recon_weight=1.0, export=True)
  summary = loop.train(config, workdir)  # digits: 10 classes
  again = savedmodel.export_from_workdir(
      export_options.ExportOptions(workdir=workdir, out=str(root / "reexported")))
  return [summary["saved_model"], again]


def test_conditional_saved_model_serves_without_dcgan_tf(exported):
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  env["TF_CPP_MIN_LOG_LEVEL"] = "2"
  out = subprocess.run([sys.executable, "-c", LOADER, "16", *exported], capture_output=True,
                       text=True, timeout=300, cwd="/", env=env)
  assert out.returncode == 0, out.stderr[-2000:]
  report = json.loads(out.stdout.strip().splitlines()[-1])
  for path in exported:
    r = report[path]
    assert r["inputs"] == {
        "serving_default": {"z": ["float32", [None, 16]], "labels": ["int32", [None]]},
        "generate": {"num": ["int32", []], "seed": ["int64", []], "label": ["int32", []]}}
    assert r["a_dtype"] == "uint8" and r["a_shape"] == [4, 32, 32, 1]
    assert r["b_dtype"] == "uint8" and r["b_shape"] == [5, 32, 32, 1]
    assert r["same"], "generate: same num, seed and label must give the same images"
    assert r["seed_matters"] and r["label_matters"] and r["labels_matter"]
    assert r["bad_label"] == "rejected", r["bad_label"]


def test_the_run_records_the_class_count_it_trained_with(exported):
  """num_classes=0 takes the dataset's 10 classes: config.json and the exports say 10."""
  from dcgan_tf.export import metadata
  workdir = os.path.dirname(exported[0])
  with open(os.path.join(workdir, "config.json")) as f:
    assert json.load(f)["num_classes"] == 10
  assert [metadata.read(path)["num_classes"] for path in exported] == [10, 10]


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_conditional_converted_files_keep_their_labels(exported, fmt):
  import numpy as np
  import tensorflow as tf
  from dcgan_tf.export import convert, options, savedmodel
  workdir = os.path.dirname(exported[0])
  path = savedmodel.export_from_workdir(options.ExportOptions(workdir=workdir, format=fmt,
                                                              batch=4))
  z = np.random.default_rng(2).standard_normal((4, 16)).astype(np.float32)
  labels = np.array([0, 3, 7, 9], np.int32)
  served = tf.saved_model.load(exported[0]).signatures["serving_default"]
  with tf.device("/CPU:0"):
    expected = served(z=tf.constant(z), labels=tf.constant(labels))["images"].numpy()
  got = convert.run_file(path, [z, labels])
  # Another runtime's float32 sums (~1e-6 relative) against a level (7.8e-3): 1 apart at most.
  assert got.shape == expected.shape and np.abs(got.astype(int) - expected).max() <= 1
  other = convert.run_file(path, [z, np.zeros(4, np.int32)])
  assert np.abs(other[1:].astype(int) - got[1:]).max() > 8  # the labels input is used


def test_every_conditional_signature_uses_its_label(exported):
  import numpy as np
  import tensorflow as tf
  m = tf.saved_model.load(exported[0]).signatures
  args = lambda label: dict(num=tf.constant(3), seed=tf.constant(7, tf.int64),
                            label=tf.constant(label))
  with tf.device("/CPU:0"):  # bit-equal comparisons: the CPU's deterministic kernels
    for label in (3, 4):
      images = m["generate"](**args(label))["images"].numpy()
      pngs = m["generate_png"](**args(label))["png_bytes"].numpy()
      assert np.array_equal(np.stack([tf.io.decode_png(p).numpy() for p in pngs]), images)
      truncated = m["generate_truncated"](truncation=tf.constant(0.5), **args(label))
      replay = m["serving_default"](z=truncated["z"], labels=tf.fill([3], label))["images"]
      assert np.array_equal(replay, truncated["images"])
    other = m["generate_truncated"](truncation=tf.constant(0.5), **args(4))["images"].numpy()
    assert np.abs(other.astype(int) - m["generate_truncated"](
        truncation=tf.constant(0.5), **args(3))["images"].numpy()).max() > 8
  with pytest.raises(tf.errors.InvalidArgumentError, match="one entry per row of z"):
    m["serving_default"](z=tf.zeros([4, 16]), labels=tf.zeros([3], tf.int32))
