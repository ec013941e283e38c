"""Image folders (folder:PATH), CelebA's extracted folder and LSUN's LMDB export."""

import io
import logging
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from conftest import tiny
from dcgan_tf.errors import UserError
from dcgan_tf import data

RNG = np.random.default_rng(0)
# Images that decode, per class sub-folder, and the files that must be skipped.
GOOD = {"cats": 7, "dogs": 6}
BAD = 3  # truncated JPEG, empty .jpg, text file named .png


def _save(path, array, mode=None, fmt=None):
  image = Image.fromarray(array)
  image = image.convert(mode) if mode else image
  os.makedirs(os.path.dirname(path), exist_ok=True)
  image.save(path, format=fmt)


def _random(h, w):
  return RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
  """cats/ and dogs/ (one nested deeper) with mixed sizes, formats and modes, plus junk."""
  root = str(tmp_path_factory.mktemp("images"))
  modes = ["L", "P", "RGBA", "RGB", "LA"]
  exts = [".png", ".png", ".png", ".jpg", ".png", ".gif", ".bmp", ".webp"]
  for name, count in GOOD.items():
    for i in range(count):
      ext = exts[i % len(exts)]
      mode = modes[i % len(modes)] if ext == ".png" else None
      sub = "deeper" if name == "dogs" and i % 2 else ""
      _save(os.path.join(root, name, sub, f"{i}{ext}"), _random(20 + 7 * i, 60 - 5 * i), mode)
  jpeg = io.BytesIO()
  Image.fromarray(_random(100, 100)).save(jpeg, "JPEG")
  with open(os.path.join(root, "dogs", "truncated.jpg"), "wb") as f:
    f.write(jpeg.getvalue()[:len(jpeg.getvalue()) // 2])
  open(os.path.join(root, "cats", "empty.jpg"), "wb").close()
  with open(os.path.join(root, "cats", "text.png"), "w") as f:
    f.write("not an image")
  with open(os.path.join(root, "cats", "notes.txt"), "w") as f:  # ignored: not an image name
    f.write("labels are folder names")
  _save(os.path.join(root, ".hidden", "x.png"), _random(8, 8))  # hidden: ignored
  return root


def test_folder_decodes_converts_labels_and_counts_skips(image_folder):
  config = tiny(dataset="folder:" + image_folder, channels=3, cache="none")
  ds, source = data.make_dataset(config, batch_size=1, repeat=False)
  labels = [int(y[0]) for _, y in ds]
  assert source.class_names == ("cats", "dogs") and source.num_classes == 2
  assert source.num_examples == sum(GOOD.values()) + BAD
  assert source.stats == dict(decoded=sum(GOOD.values()), skipped=BAD, passes=1)
  assert labels.count(0) == GOOD["cats"] and labels.count(1) == GOOD["dogs"]
  gray, _ = data.make_dataset(config.replace(channels=1, batch_size=4))
  images, _ = next(iter(gray))
  assert images.shape == (4, 32, 32, 1) and -1 <= images.numpy().min() <= images.numpy().max() <= 1


def test_folder_shards_files_per_input_pipeline(image_folder):
  config = tiny(dataset="folder:" + image_folder, channels=3, cache="none")
  decoded = []
  for pipeline in range(2):
    context = tf.distribute.InputContext(2, pipeline, 2)
    ds, source = data.make_dataset(config, batch_size=2, repeat=False, input_context=context)
    count = sum(images.shape[0] for images, _ in ds)
    decoded.append(source.stats["decoded"])
    assert count <= source.stats["decoded"]  # batches of 1 per replica, remainder dropped
  assert sum(decoded) == sum(GOOD.values())


def test_folder_trains_and_logs_skipped_files(image_folder, tmp_path, caplog):
  from dcgan_tf.train import loop
  caplog.set_level(logging.INFO)
  config = tiny(dataset="folder:" + image_folder, channels=3)
  summary = loop.train(config, str(tmp_path / "run"))
  assert summary["step"] == 2
  assert f"skipped {BAD} of {sum(GOOD.values()) + BAD} files" in caplog.text
  assert "1 files with other extensions ignored" in caplog.text


def test_folder_errors_are_one_line_and_name_the_path(tmp_path):
  def error(path, kind=UserError):
    with pytest.raises(kind) as err:
      data.make_dataset(tiny(dataset=f"folder:{path}", channels=3))
    message = str(err.value)
    assert "\n" not in message and str(path) in message and message.startswith("dataset: ")
    return message

  assert "does not exist" in error(tmp_path / "missing")
  (tmp_path / "empty").mkdir()
  assert "no image files" in error(tmp_path / "empty")
  (tmp_path / "text").mkdir()
  (tmp_path / "text" / "a.txt").write_text("x")
  assert "(1 other files)" in error(tmp_path / "text")
  (tmp_path / "broken").mkdir()
  (tmp_path / "broken" / "a.jpg").write_bytes(b"")
  (tmp_path / "broken" / "b.png").write_bytes(b"\x89PNG broken")
  assert "none of the first 2 images" in error(tmp_path / "broken")
  (tmp_path / "file.jpg").write_bytes(b"")
  assert "is not a folder" in error(tmp_path / "file.jpg")


def test_celeba_folder_gets_the_central_crop(tmp_path):
  """178x218 faces: the central 108x108 is white, the rest black."""
  face = np.zeros((218, 178, 3), np.uint8)
  face[55:163, 35:143] = 255
  for i in range(3):
    _save(str(tmp_path / "img_align_celeba" / f"{i + 1:06d}.jpg"), face)
  config = tiny(dataset="celeba", image_size=64, channels=3, center_crop=108,
                manual_dir=str(tmp_path), batch_size=3, cache="none")
  ds, source = data.make_dataset(config, repeat=False)
  images, labels = next(iter(ds))
  assert images.shape == (3, 64, 64, 3) and source.num_classes == 0
  assert float(tf.reduce_min(images[:, 2:-2, 2:-2])) > 0.9  # all face, no black border
  without, _ = data.make_dataset(config.replace(center_crop=0), repeat=False)
  assert float(tf.reduce_min(next(iter(without))[0])) < -0.9  # the border shows without it


def test_lsun_lmdb_export(tmp_path):
  lmdb = pytest.importorskip("lmdb", reason="LSUN's LMDB files need the optional `lmdb` package")
  env = lmdb.open(str(tmp_path / "church_outdoor_train_lmdb"), map_size=1 << 24)
  with env.begin(write=True) as txn:
    for i in range(6):  # LSUN stores WebP (newer exports) or JPEG bytes under hex keys
      buf = io.BytesIO()
      Image.fromarray(_random(40 + i, 60)).save(buf, "WEBP" if i % 2 else "JPEG")
      txn.put(f"{i:040x}".encode(), buf.getvalue() if i != 3 else b"corrupt")
  env.close()
  config = tiny(dataset="lsun_church", image_size=64, channels=3, manual_dir=str(tmp_path),
                batch_size=5, cache="none")
  ds, source = data.make_dataset(config, repeat=False)
  images, labels = next(iter(ds))
  assert images.shape == (5, 64, 64, 3) and not labels.numpy().any()
  assert source.stats == dict(decoded=5, skipped=1, passes=1)


def test_evaluation_reads_a_folder_alike_whatever_the_global_seed(image_folder):
  """The real images of an evaluation (a reservoir sample over the split in its stored
  order) do not depend on TensorFlow's global seed, which a training process sets and
  `evaluate` does not: a folder's file shuffle would mix it in (sources._file_order)."""
  import keras
  from dcgan_tf.evaluate import context
  config = tiny(dataset="folder:" + image_folder, channels=3, random_flip=False)
  drawn = []
  for global_seed in (1, 2):
    keras.utils.set_random_seed(global_seed)
    drawn.append(context.load_images(config, 5, seed=0))
  np.testing.assert_array_equal(drawn[0][0], drawn[1][0])
  np.testing.assert_array_equal(drawn[0][1], drawn[1][1])
  # Training still mixes the files: their order changes with the run's shuffle seed.
  orders = [[tuple(x.numpy().ravel()[:8]) for x, _ in data.make_dataset(
      config.replace(seed=s), batch_size=1, repeat=False)[0]] for s in (0, 1)]
  assert sorted(orders[0]) == sorted(orders[1]) and orders[0] != orders[1]
