"""sample: every mode writes a PNG that decodes back, plus a TensorBoard image;
interpolation and arithmetic do what they say; the conditional G gets class rows."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from conftest import run_module
from dcgan_tf.errors import UserError
from dcgan_tf.sample import options as sample_options
from test_evaluate import train_tiny


def make_picture(workdir, mode, out, **kw):
  from dcgan_tf.sample import pictures
  return pictures.make_picture(sample_options.SampleOptions(workdir=workdir, mode=mode, out=out, **kw))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
  return train_tiny(str(tmp_path_factory.mktemp("sample") / "run"), train_steps=2)


def _png(path):
  """Decodes a PNG file back: uint8 [H, W, C]."""
  with open(path, "rb") as f:
    return tf.io.decode_png(f.read()).numpy()


def _cell(tile, row, col, size=32, pad=2):
  top, left = pad + row * (size + pad), pad + col * (size + pad)
  return tile[top:top + size, left:left + size]


def test_slerp_keeps_the_ends_and_the_norm():
  from dcgan_tf.sample import pictures
  rng = np.random.default_rng(0)
  a, b = rng.standard_normal(100), rng.standard_normal(100)
  b *= np.linalg.norm(a) / np.linalg.norm(b)
  # float64: the ends are (sin w a) / sin w, within an ulp of a and b (allclose: 1e-5); the
  # midpoint's norm is |a| to a few eps (~1e-15; measured 4e-16) for equal-norm ends, where
  # rel 1e-6 still catches the shrinking lerp (0.85 |a| below).
  assert np.allclose(pictures.slerp(a, b, 0.0), a) and np.allclose(pictures.slerp(a, b, 1.0), b)
  mid_s, mid_l = pictures.slerp(a, b, 0.5), pictures.lerp(a, b, 0.5)
  assert np.linalg.norm(mid_s) == pytest.approx(np.linalg.norm(a), rel=1e-6)
  assert np.linalg.norm(mid_l) < 0.85 * np.linalg.norm(a)  # linear midpoints shrink


@pytest.mark.parametrize("mode, args, shape", [
    ("grid", ["--num=16"], (4 * 34 + 2, 4 * 34 + 2, 1)),
    ("interpolate", ["--num=3", "--steps=5"], (3 * 34 + 2, 5 * 34 + 2, 1)),
    ("interpolate", ["--num=2", "--steps=4", "--lerp"], (2 * 34 + 2, 4 * 34 + 2, 1)),
    ("arithmetic", ["--num=2"], (2 * 34 + 2, 15 * 34 + 2, 1)),
    ("kernels", [], None),
    ("curves", [], None),
])
def test_modes_write_readable_pngs(workdir, tmp_path, mode, args, shape):
  out = str(tmp_path / f"{mode}.png")
  flags = {a[2:].split("=")[0]: a.split("=")[1] if "=" in a else True for a in args}
  summary = make_picture(workdir, mode, out, num=int(flags.get("num", 0)),
                         steps=int(flags.get("steps", 10)), lerp=bool(flags.get("lerp")))
  image = _png(out)
  assert summary["step"] == 2 and list(image.shape) == summary["shape"]
  if shape:
    assert image.shape == shape
  assert image.std() > 0  # not a blank picture
  if mode == "kernels":  # conv0: 4x4x1 kernels of 8 filters, enlarged to 32x32
    assert image.shape == (3 * 34 + 2, 3 * 34 + 2, 1)
  if mode == "interpolate":
    ends = summary["interpolation"]
    assert ends == ("linear" if flags.get("lerp") else "spherical")


def test_tensorboard_gets_the_picture(workdir, tmp_path):
  make_picture(workdir, "grid", str(tmp_path / "g.png"), num=4)
  logdir = os.path.join(workdir, "tensorboard", "sample")
  tags = set()
  for name in os.listdir(logdir):
    for record in tf.data.TFRecordDataset(os.path.join(logdir, name)):
      tags |= {v.tag for v in tf.compat.v1.Event.FromString(record.numpy()).summary.value}
  assert "sample/grid" in tags


def test_interpolation_rows_start_and_end_at_their_pairs(workdir):
  from dcgan_tf import images, inference
  from dcgan_tf.sample import pictures
  run = inference.load_run(workdir)
  tile = pictures.interpolation(run, rows=2, steps=4, seed=3)
  ends = inference.latent(4, run.config.latent_dim, 3)
  expected = images.to_uint8(inference.generate(run, ends)).numpy()
  # The same G on the same z in another batch: float32 sums in another order (or TF32 on a
  # GPU, ~1e-3), far below a level (2 / 255): uint8 images at most 1 apart.
  for r in range(2):
    assert np.abs(_cell(tile, r, 0).astype(int) - expected[2 * r]).max() <= 1
    assert np.abs(_cell(tile, r, 3).astype(int) - expected[2 * r + 1]).max() <= 1


def test_arithmetic_from_grid_indices(workdir, tmp_path):
  from dcgan_tf import images, inference
  from dcgan_tf.sample import pictures
  run = inference.load_run(workdir)
  out = str(tmp_path / "grid.png")
  summary = make_picture(workdir, "grid", out, num=9)
  saved = np.load(summary["z_file"])
  tile = pictures.arithmetic(run, z_from=summary["z_file"], groups="0,1:2,3:4,5")
  assert tile.shape == (34 + 2, 3 * 3 * 34 + 2 * 34 + 2, 1)  # 3 x (2 + mean) + result + 1 noisy
  z = saved["z"]
  result = z[[0, 1]].mean(0) - z[[2, 3]].mean(0) + z[[4, 5]].mean(0)
  expected = images.to_uint8(inference.generate(run, result[None])).numpy()[0]
  # Another batch, as in the interpolation test: at most a level apart.
  assert np.abs(_cell(tile, 0, 9).astype(int) - expected).max() <= 1
  with pytest.raises(UserError, match="^groups: want three comma-separated index lists"):
    pictures.arithmetic(run, z_from=summary["z_file"], groups="0,1:2")
  with pytest.raises(UserError, match="^groups: indices \\[99\\] out of range"):
    pictures.arithmetic(run, z_from=summary["z_file"], groups="0:1:99")


def test_conditional_grid_rows_and_class_to_class_rows(tmp_path):
  from dcgan_tf import inference
  from dcgan_tf.sample import pictures
  from dcgan_tf import images
  workdir = train_tiny(str(tmp_path / "cond"), variant="cdcgan", train_steps=1)
  run = inference.load_run(workdir)
  assert list(images.grid_labels(9, run.num_classes)) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
  tile = pictures.interpolation(run, rows=2, steps=3, seed=0)
  # With z fixed per row, the row's ends are exactly the two classes' images.
  z = inference.latent(4, run.config.latent_dim, 0)[:2]
  for r in range(2):
    ends = inference.generate(run, np.repeat(z[r:r + 1], 2, 0), np.array([r, r + 1], np.int32))
    ends = images.to_uint8(ends).numpy()
    # Another batch, as in the interpolation test: at most a level apart.
    assert np.abs(_cell(tile, r, 0).astype(int) - ends[0]).max() <= 1
    assert np.abs(_cell(tile, r, 2).astype(int) - ends[1]).max() <= 1
  assert run.generator.label_embedding.call.__self__ is run.generator.label_embedding  # restored
  out = str(tmp_path / "arith.png")
  make_picture(workdir, "arithmetic", out, num=1)
  assert _png(out).shape[1] == 15 * 34 + 2


def test_class_to_class_interpolation_of_a_projection_g_is_a_user_error():
  from conftest import tiny
  from dcgan_tf import config as config_lib, inference, models
  from dcgan_tf.sample import pictures
  config = config_lib.resolve_classes(tiny(variant="cdcgan_projection"), 10)
  run = inference.Run(workdir=None, config=config, generator=models.build_generator(config),
                      discriminator=None, step=0, checkpoint="")
  with pytest.raises(UserError, match="^mode: class-to-class interpolation blends cdcgan's"):
    pictures.interpolation(run, rows=2, steps=3)


def test_truncation_rows_share_their_noise_and_shrink_it(workdir, tmp_path):
  """--mode=truncation: a row per t over the same uniforms; --truncation on a grid draws the
  z that the export's generate_truncated draws for that seed."""
  from dcgan_tf import images, inference
  from dcgan_tf.sample import pictures
  out = str(tmp_path / "trunc.png")
  summary = make_picture(workdir, "truncation", out, num=3, truncation="0.5,2,0.5")
  tile = _png(out)
  assert summary["truncation"] == [0.5, 2.0, 0.5] and tile.shape == (3 * 34 + 2, 3 * 34 + 2, 1)
  rows = [np.stack([_cell(tile, r, c) for c in range(3)]) for r in range(3)]
  assert np.array_equal(rows[0], rows[2])  # same t, same seed: the same row
  assert np.abs(rows[0].astype(int) - rows[1]).max() > 8  # t = 0.5 against t = 2
  run = inference.load_run(workdir)
  z_half, z_two = (pictures.truncated_latent(3, 16, 0, t) for t in (0.5, 2.0))
  assert np.abs(z_half).max() <= 0.5 and np.abs(z_two).max() <= 2.0
  assert np.abs(z_two).max() > 0.5  # 48 draws of N(0,1) | |z| <= 2: P(all <= 0.5) ~ 1e-9
  # The inverse CDF is monotone in u: one column's z keep their signs and order across t.
  assert np.array_equal(np.sign(z_half), np.sign(z_two))
  # The same G, z and batch size in another call: equal on the CPU; a GPU's convolutions
  # may sum in another order (TF32, atomics), a level at most, as above.
  expected = images.to_uint8(inference.generate(run, z_half)).numpy()
  assert np.abs(rows[0].astype(int) - expected).max() <= 1


def test_nearest_rows_put_each_sample_beside_its_nearest_training_images(workdir, tmp_path,
                                                                        monkeypatch):
  from dcgan_tf import inference
  from dcgan_tf.evaluate import context
  from dcgan_tf.sample import pictures
  out = str(tmp_path / "nearest.png")
  summary = make_picture(workdir, "nearest", out, num=2)
  distances = np.array(summary["nearest_distances"])
  assert _png(out).shape == (2 * 34 + 2, 4 * 34 + 2, 1)
  assert distances.shape == (2, 3) and np.all(np.diff(distances, axis=1) >= 0)  # nearest first
  # A "generator" that returns training images: each row's first neighbour is the sample
  # itself, at distance 0, and the tile's first two cells are equal.
  run = inference.load_run(workdir)
  train = context.load_images(run.config, None, 0)[0]
  monkeypatch.setattr(pictures, "generate", lambda run, z, labels=None: train[5:5 + len(z)])
  tile, copied = pictures.nearest_rows(run, num=2)
  # Distance 0 up to the expansion |a|^2 + |b|^2 - 2ab in float64: |a|^2 ~ 1e3 leaves
  # ~1e-13, ~1e-6 after the square root; distinct digits are > 1 apart.
  assert np.all(copied[:, 0] < 1e-5) and np.all(copied[:, 1] > 1)
  assert np.array_equal(_cell(tile, 1, 0), _cell(tile, 1, 1))


def test_cli_writes_png(workdir, tmp_path):
  out = str(tmp_path / "cli.png")
  result = run_module("dcgan_tf.sample", f"--workdir={workdir}", "--mode=interpolate",
                      f"--out={out}", "--num=2", "--steps=3")
  assert result.returncode == 0, result.stderr[-2000:]
  assert json.loads(result.stdout)["out"] == out and _png(out).shape == (70, 104, 1)


@pytest.mark.parametrize("kw, message", [
    (dict(mode="grid", out="x.jpg"), "^out: want a .png"),
    (dict(mode="mosaic", out="x.png"), "^mode: got 'mosaic'"),
    (dict(mode="grid", out="x.png", checkpoint="77"), "^checkpoint: no checkpoint"),
    (dict(mode="arithmetic", out="x.png", z_from="missing.npz"), "^z_from: no file"),
    (dict(mode="truncation", out="x.png", truncation="0.5,0"), "^truncation: want"),
    (dict(mode="truncation", out="x.png", truncation="nan"), "^truncation: want"),
    (dict(mode="grid", out="x.png", truncation="0.5,1"), "^truncation: mode=grid takes one value"),
    (dict(mode="interpolate", out="x.png", truncation="0.5"), "^truncation: only mode=grid"),
    (dict(mode="grid", out="x.png", num=-1), "^num: must be >= 0, got -1"),
    (dict(mode="interpolate", out="x.png", steps=1), "^steps: must be >= 2, got 1"),
])
def test_user_errors_name_the_flag(workdir, tmp_path, kw, message):
  # evaluate's test checks that cli.run prints such errors on one line.
  kw["out"] = str(tmp_path / kw["out"])
  with pytest.raises(UserError, match=message):
    make_picture(workdir, **kw)
