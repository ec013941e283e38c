"""Export: a trained workdir's SavedModel serves both signatures in a process without dcgan_tf."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import run_module, tiny
from dcgan_tf.errors import UserError

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
z = tf.constant(np.load(sys.argv[3])) if len(sys.argv) > 3 else tf.random.normal([3, int(sys.argv[2])])
a = m.signatures["serving_default"](z=z)["images"]
if len(sys.argv) > 4:
  np.save(sys.argv[4], a.numpy())
# Compared bit for bit: on the CPU, whose kernels are deterministic; a GPU's transposed
# convolutions (cuDNN backward-data) may sum with atomics, moving a pixel by a level.
with tf.device("/CPU:0"):
  b = m.signatures["generate"](num=tf.constant(5), seed=tf.constant(7, tf.int64))["images"]
  c = m.signatures["generate"](num=tf.constant(5), seed=tf.constant(7, tf.int64))["images"]
  d = m.signatures["generate"](num=tf.constant(5), seed=tf.constant(8, tf.int64))["images"]
print(json.dumps(dict(a_dtype=a.dtype.name, a_shape=a.shape.as_list(), b_dtype=b.dtype.name,
                      b_shape=b.shape.as_list(), same=bool(np.array_equal(b, c)),
                      differs=bool(not np.array_equal(b, d)))))
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


def _load_in_clean_process(path, latent_dim, *files):
  """Runs LOADER on the SavedModel at `path`; files: z.npy to serve and the output .npy."""
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  env["TF_CPP_MIN_LOG_LEVEL"] = "2"
  out = subprocess.run([sys.executable, "-c", LOADER, path, str(latent_dim), *map(str, files)],
                       capture_output=True,
                       text=True, timeout=180, cwd="/", env=env)
  assert out.returncode == 0, out.stderr[-2000:]
  return json.loads(out.stdout.strip().splitlines()[-1])


def test_saved_model_serves_the_trained_generator_without_dcgan_tf(trained_workdir, tmp_path):
  """serving_default(z) in a fresh process == the trained G(z, training=False) as uint8."""
  from dcgan_tf import images, inference
  run = inference.load_run(trained_workdir, discriminator=False)  # the final checkpoint
  z = inference.latent(6, run.config.latent_dim, seed=5)
  expected = images.to_uint8(run.generator(z, training=False)).numpy()
  # Worth comparing: batch norm in training mode (batch statistics) gives other images, well
  # beyond the 1 level the served images may differ by below (this 3-step G: 6 to 11 levels
  # over ten draws of 6 z, measured).
  training_mode = images.to_uint8(run.generator(z, training=True)).numpy()
  assert np.abs(training_mode.astype(int) - expected).max() > 4
  np.save(tmp_path / "z.npy", z)
  r = _load_in_clean_process(os.path.join(trained_workdir, "saved_model"), 16,
                             tmp_path / "z.npy", tmp_path / "served.npy")
  served = np.load(tmp_path / "served.npy")
  assert served.dtype == np.uint8 and served.shape == (6, 32, 32, 1)
  # Two processes, two graphs, maybe other kernels: float outputs a rounding apart (float32
  # sums in another order ~1e-6, TF32 on a GPU ~1e-3), far below a level (2 / 255 = 7.8e-3),
  # so the uint8 images are at most 1 apart where a value sits near a rounding boundary.
  assert np.abs(served.astype(int) - expected).max() <= 1
  assert r["b_dtype"] == "uint8" and r["b_shape"] == [5, 32, 32, 1]
  assert r["same"], "generate with the same seed must return the same images"
  assert r["differs"], "generate with another seed must return other images"


@pytest.mark.heavy
def test_export_cli_from_workdir(trained_workdir, tmp_path):
  out = str(tmp_path / "exported")
  result = run_module("dcgan_tf.export", f"--workdir={trained_workdir}", f"--out={out}")
  assert result.returncode == 0, result.stderr[-2000:]
  assert _load_in_clean_process(out, 16)["b_shape"] == [5, 32, 32, 1]


def test_export_of_a_missing_workdir_is_a_user_error(tmp_path):
  from dcgan_tf.export import options as export_options
  from dcgan_tf.export import savedmodel
  with pytest.raises(UserError, match="config.json"):
    savedmodel.export_from_workdir(export_options.ExportOptions(workdir=str(tmp_path / "nope")))


def _events(logdir):
  """{tag: {step: numpy value}} of the TF2 summaries in the event files of `logdir`."""
  import tensorflow as tf
  out = {}
  for name in sorted(f for f in os.listdir(logdir) if "tfevents" in f):
    for record in tf.data.TFRecordDataset(os.path.join(logdir, name)):
      event = tf.compat.v1.Event.FromString(record.numpy())
      for value in event.summary.value:
        out.setdefault(value.tag, {})[event.step] = tf.make_ndarray(value.tensor)
  return out


def test_tensorboard_holds_what_the_readme_lists(trained_workdir):
  """Read back the run's event files: the README's scalars at every logged step, the sample
  grid at its real size, the config text."""
  import re
  import tensorflow as tf
  with open(os.path.join(os.path.dirname(os.path.dirname(__file__)), "README.md")) as f:
    readme = f.read()
  section = readme[readme.index("What TensorBoard shows"):]
  scalars = set(re.findall(r"`([a-z][a-z0-9_]*)`", section[:section.index("- Images")]))
  scalars.discard("recon_l1")  # cdcgan with --recon_weight only
  assert {"d_loss", "g_loss", "d_real", "d_fake", "images_per_s"} <= scalars
  events = _events(os.path.join(trained_workdir, "tensorboard"))
  for tag in scalars:
    assert sorted(events.get(tag, {})) == [1, 2, 3], tag  # tiny(): --log_every=1, 3 steps
    assert all(np.isfinite(v) for v in events[tag].values()), tag
  assert all(0 < v < 1 for v in events["d_real"].values())  # mean sigmoid outputs
  # float32 scalars: within u = 6e-8 relative of 2e-4, under approx's default 1e-6.
  assert all(v == pytest.approx(2e-4) for v in events["g_lr"].values())
  # The ETA counts down to 0 at the last step (the first interval includes tracing, so it is
  # the longest: each later estimate is smaller).
  eta = events["eta_s"]
  assert eta[1] > eta[2] > eta[3] == 0, eta
  # The grid: 4 fixed-noise samples of 32x32x1 -> 2 x 2 cells of 32 + 2 pixels padding.
  width, height, png = events["samples"][3]
  image = tf.io.decode_png(png).numpy()
  assert (int(width), int(height)) == (70, 70) and image.shape == (70, 70, 1)
  assert image.std() > 0
  config_text = events["config"][0].item().decode()
  with open(os.path.join(trained_workdir, "config.json")) as f:
    assert json.loads(config_text.strip("`\n")) == json.load(f)
