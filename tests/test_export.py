"""Export: a trained workdir's SavedModel serves both signatures in a process without dcgan_tf."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, run_module, tiny

# Runs in a fresh interpreter whose sys.path cannot reach dcgan_tf.
LOADER = r"""
import json, sys
import numpy as np
import tensorflow as tf
try:
  import dcgan_tf
  raise SystemExit("dcgan_tf must not be importable here")
except ImportError:
  pass
m = tf.saved_model.load(sys.argv[1])
z = tf.random.normal([3, int(sys.argv[2])])
a = m.signatures["serving_default"](z=z)["images"]
b = m.signatures["generate"](num=tf.constant(5), seed=tf.constant(7, tf.int64))["images"]
c = m.signatures["generate"](num=tf.constant(5), seed=tf.constant(7, tf.int64))["images"]
d = m.signatures["generate"](num=tf.constant(5), seed=tf.constant(8, tf.int64))["images"]
print(json.dumps(dict(a_dtype=a.dtype.name, a_shape=a.shape.as_list(), b_dtype=b.dtype.name,
                      b_shape=b.shape.as_list(), same=bool(np.array_equal(b, c)),
                      differs=bool(not np.array_equal(b, d)), b_min=int(b.numpy().min()),
                      b_max=int(b.numpy().max()))))
"""


@pytest.fixture(scope="module")
def trained_workdir(tmp_path_factory):
  from dcgan_tf.train import loop
  workdir = str(tmp_path_factory.mktemp("export") / "run")
  summary = loop.train(tiny(train_steps=3, export=True), workdir)
  assert summary["step"] == 3
  return workdir


def test_training_writes_every_artifact(trained_workdir):
  w = trained_workdir
  assert os.path.isfile(os.path.join(w, "config.json"))
  assert json.load(open(os.path.join(w, "config.json")))["train_steps"] == 3
  assert any(f.startswith("ckpt-3") for f in os.listdir(os.path.join(w, "checkpoints")))
  assert os.listdir(os.path.join(w, "tensorboard"))
  assert os.path.isfile(os.path.join(w, "samples", "step_0000003.png"))
  assert os.path.isfile(os.path.join(w, "saved_model", "saved_model.pb"))
  assert np.load(os.path.join(w, "fixed_noise.npy")).shape == (4, 16)


def _load_in_clean_process(path, latent_dim):
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  env["TF_CPP_MIN_LOG_LEVEL"] = "2"
  out = subprocess.run([sys.executable, "-c", LOADER, path, str(latent_dim)], capture_output=True,
                       text=True, timeout=180, cwd="/", env=env)
  assert out.returncode == 0, out.stderr[-2000:]
  return json.loads(out.stdout.strip().splitlines()[-1])


def test_saved_model_serves_without_dcgan_tf(trained_workdir):
  r = _load_in_clean_process(os.path.join(trained_workdir, "saved_model"), 16)
  assert r["a_dtype"] == "uint8" and r["a_shape"] == [3, 32, 32, 1]
  assert r["b_dtype"] == "uint8" and r["b_shape"] == [5, 32, 32, 1]
  assert r["same"], "generate with the same seed must return the same images"
  assert r["differs"], "generate with another seed must return other images"
  assert 0 <= r["b_min"] <= r["b_max"] <= 255


def test_export_cli_from_workdir(trained_workdir, tmp_path):
  out = str(tmp_path / "exported")
  result = run_module("dcgan_tf.export", f"--workdir={trained_workdir}", f"--out={out}")
  assert result.returncode == 0, result.stderr[-2000:]
  assert _load_in_clean_process(out, 16)["b_shape"] == [5, 32, 32, 1]
  cli = shutil.which("saved_model_cli")
  if cli:
    shown = subprocess.run([cli, "show", "--dir", out, "--all"], capture_output=True, text=True,
                           timeout=120)
    assert "signature_def['serving_default']" in shown.stdout
    assert "signature_def['generate']" in shown.stdout


def test_export_cli_missing_workdir(tmp_path):
  result = run_module("dcgan_tf.export", f"--workdir={tmp_path / 'nope'}")
  assert result.returncode != 0
  assert "Traceback" not in result.stderr
  assert "config.json" in result.stderr.strip().splitlines()[-1]
