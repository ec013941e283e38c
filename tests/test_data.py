"""Named datasets (TFDS mocked, IDX files, Debian's Fashion-MNIST) and the pipeline's options."""

import gzip
import os
import struct
import types

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from conftest import tiny
from dcgan_tf.errors import UserError
from dcgan_tf import config as config_lib
from dcgan_tf import data
from dcgan_tf.data import pipeline, sources

# Named dataset -> number of classes of its TFDS version (0 = unlabelled).
MOCKED = {"celeba": 0, "lsun_church": 0, "cifar10": 10, "mnist": 10, "pets": 37, "cars": 196}


def _check_batch(images, labels, batch, size, channels, num_classes):
  assert images.shape == (batch, size, size, channels)
  assert images.dtype == tf.float32 and labels.dtype == tf.int32
  assert -1.0 <= float(tf.reduce_min(images)) and float(tf.reduce_max(images)) <= 1.0
  assert float(tf.reduce_max(images)) > float(tf.reduce_min(images))  # not constant
  assert labels.shape == (batch,)
  if num_classes:
    assert 0 <= int(tf.reduce_min(labels)) and int(tf.reduce_max(labels)) < num_classes
  else:
    assert not np.any(labels.numpy())


@pytest.fixture
def no_debian(monkeypatch):
  """Hides Debian's IDX folders, so mnist-like datasets go to (mocked) TFDS."""
  monkeypatch.setattr(sources, "DEBIAN_DATASETS", {})


def test_every_named_dataset_has_a_source_and_a_config():
  assert set(config_lib.DATASETS) == set(sources.SOURCES)
  for name in config_lib.DATASETS:
    config = config_lib.load_config_file(name)
    config_lib.validate(config)
    assert config.dataset == name


@pytest.mark.parametrize("name", sorted(MOCKED))
def test_mocked_tfds_dataset_batches(name, tmp_path, no_debian):
  config = config_lib.load_config_file(name).replace(
      batch_size=4, shuffle_buffer=8, data_dir=str(tmp_path), manual_dir="")
  with tfds.testing.mock_data(num_examples=8, data_dir=str(tmp_path)):
    ds, source = data.make_dataset(config)
    images, labels = next(iter(ds))
  assert source.num_classes == MOCKED[name]
  _check_batch(images, labels, 4, config.image_size, config.channels, MOCKED[name])


def test_tfds_files_are_read_in_stored_order_with_shuffle_buffer_one(tmp_path, no_debian,
                                                                     monkeypatch):
  """shuffle_buffer=1 (evaluation's real images) reads TFDS files in their stored order, not
  shuffled by an unseeded op; otherwise in the run's seeded file order."""
  from dcgan_tf import seeds
  calls, builder = [], tfds.builder

  def recording_builder(*args, **kw):
    b = builder(*args, **kw)
    as_dataset = b.as_dataset
    b.as_dataset = lambda **a: calls.append(a) or as_dataset(**a)
    return b

  monkeypatch.setattr(tfds, "builder", recording_builder)
  config = tiny(dataset="mnist", batch_size=4, data_dir=str(tmp_path), seed=3)
  with tfds.testing.mock_data(num_examples=8, data_dir=str(tmp_path)):
    for shuffle_buffer in (1, 8):
      data.make_dataset(config.replace(shuffle_buffer=shuffle_buffer))
  stored, shuffled = calls
  assert not stored["shuffle_files"] and stored["read_config"].shuffle_seed is None
  assert shuffled["shuffle_files"]
  assert shuffled["read_config"].shuffle_seed == seeds.derive(3, "file_order")


def test_tfds_prefix_and_unknown_name(tmp_path):
  config = tiny(dataset="tfds:lsun/bedroom", channels=3, batch_size=2, data_dir=str(tmp_path))
  with tfds.testing.mock_data(num_examples=4, data_dir=str(tmp_path)):
    ds, source = data.make_dataset(config)
    _check_batch(*next(iter(ds)), 2, 32, 3, 0)
  with pytest.raises(UserError, match="^dataset: TFDS has no dataset 'no_such_set'"):
    data.make_dataset(config.replace(dataset="tfds:no_such_set"))


@pytest.mark.parametrize("name,words", [("celeba", "img_align_celeba"),
                                        ("lsun_church", "church_outdoor_train_lmdb")])
def test_failed_download_says_how_to_place_files(name, words, tmp_path, monkeypatch):
  def fail(*args, **kwargs):
    raise ConnectionError("no network\nsecond line")
  monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", fail)
  config = config_lib.load_config_file(name).replace(data_dir=str(tmp_path), manual_dir="")
  with pytest.raises(UserError) as err:
    data.make_dataset(config)
  message = str(err.value)
  assert "\n" not in message and "ConnectionError: no network" in message
  assert message.startswith("dataset: could not load TFDS dataset") and err.value.field == "dataset"
  assert words in message and "manual_dir=DIR" in message and f"for '{name}'" in message


def _write_idx(folder, prefix, images, labels):
  os.makedirs(folder, exist_ok=True)
  with gzip.open(os.path.join(folder, f"{prefix}-images-idx3-ubyte.gz"), "wb") as f:
    f.write(struct.pack(">HBBIII", 0, 8, 3, *images.shape) + images.tobytes())
  with gzip.open(os.path.join(folder, f"{prefix}-labels-idx1-ubyte.gz"), "wb") as f:
    f.write(struct.pack(">HBBI", 0, 8, 1, len(labels)) + labels.tobytes())


def test_idx_files_from_data_dir(tmp_path, no_debian):
  images = np.random.default_rng(0).integers(0, 256, (20, 28, 28), dtype=np.uint8)
  labels = (np.arange(20) % 10).astype(np.uint8)
  _write_idx(str(tmp_path / "mnist"), "train", images, labels)
  config = tiny(dataset="mnist", data_dir=str(tmp_path), batch_size=20, cache="none")
  ds, source = data.make_dataset(config, repeat=False)
  assert (source.num_examples, source.num_classes) == (20, 10)
  batch_images, batch_labels = next(iter(ds))
  _check_batch(batch_images, batch_labels, 20, 32, 1, 10)
  assert sorted(batch_labels.numpy()) == sorted(labels)
  with pytest.raises(UserError, match="t10k-images-idx3-ubyte"):
    data.make_dataset(config.replace(split="test"))
  with pytest.raises(UserError, match="^split: 'validation'.*valid: train, test"):
    data.make_dataset(config.replace(split="validation"))
  truncated = tmp_path / "bad.gz"
  with gzip.open(truncated, "wb") as f:
    f.write(struct.pack(">HBBIII", 0, 8, 3, 5, 28, 28) + b"\0" * 100)
  with pytest.raises(UserError, match="truncated IDX"):
    sources.read_idx_gz(str(truncated))


@pytest.mark.skipif(not os.path.isfile(os.path.join(
    sources.DEBIAN_DATASETS["fashion_mnist"], "train-images-idx3-ubyte.gz")),
    reason="Debian's dataset-fashion-mnist is not installed (/usr/share/datasets/fashion-mnist)")
def test_real_fashion_mnist_from_debian():
  config = config_lib.load_config_file("fashion_mnist").replace(batch_size=256,
                                                                 shuffle_buffer=1000)
  ds, source = data.make_dataset(config)
  assert (source.num_examples, source.num_classes) == (60000, 10)
  images, labels = next(iter(ds))
  _check_batch(images, labels, 256, 32, 1, 10)
  assert len(np.unique(labels.numpy())) == 10  # shuffled: all classes in one batch
  # Fashion-MNIST has black backgrounds: most pixels sit near -1.
  assert float(tf.reduce_mean(tf.cast(images < -0.9, tf.float32))) > 0.3


def test_input_context_shards_examples_and_batches_per_replica():
  config = tiny(cache="none")
  seen = []
  for pipeline_id in range(2):
    context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=pipeline_id,
                                         num_replicas_in_sync=4)
    ds, source = data.make_dataset(config, batch_size=16, repeat=False, input_context=context)
    batches = list(ds)
    assert all(images.shape[0] == 4 for images, _ in batches)  # 16 / 4 replicas
    assert source.num_examples == 1797 and source.shard_examples == 899 - pipeline_id
    seen.append({images.numpy().tobytes() for b, _ in batches for images in b})
  assert not seen[0] & seen[1]  # disjoint shards
  with pytest.raises(UserError, match="^batch_size: 18 is not divisible by the 4 replicas"):
    data.make_dataset(config, batch_size=18, input_context=context)


def _first_batches(config, count=3):
  ds, _ = data.make_dataset(config)
  return [images.numpy() for images, _ in ds.take(count)]


def test_augmentation_is_seeded_and_stays_in_range():
  config = tiny(batch_size=32, mnist_augment=True, random_flip=True)
  first = _first_batches(config)
  again = _first_batches(config)
  plain = _first_batches(config.replace(mnist_augment=False, random_flip=False))
  for a, b, p in zip(first, again, plain):
    np.testing.assert_array_equal(a, b)  # same --seed, same batches: the same CPU ops, bit for bit
    assert -1.0 <= a.min() and a.max() <= 1.0
    assert not np.allclose(a, p)  # same order (shuffle seed), different pixels


def test_file_cache_is_written_then_read(tmp_path, caplog):
  import logging
  caplog.set_level(logging.INFO)
  config = tiny(cache=str(tmp_path) + os.sep, batch_size=64)
  first = _first_batches(config, count=30)  # > 1 pass: the cache is complete
  path = pipeline.cache_path(config, (1, 0))
  assert os.path.isfile(path + ".index") and "writing prepared images" in caplog.text
  second = _first_batches(config, count=30)
  assert "reading prepared images" in caplog.text
  np.testing.assert_array_equal(first[0], second[0])
  open(path + "_0.lockfile", "w").close()  # what an interrupted writer leaves
  with pytest.raises(UserError, match="^cache: .*lockfile exists"):
    data.make_dataset(config)
  with pytest.raises(UserError, match="^cache: folder .* does not exist"):
    data.make_dataset(config.replace(cache=str(tmp_path / "missing" / "cache")))
  with pytest.raises(UserError, match="^center_crop: must be >= 0"):
    config_lib.validate(config.replace(center_crop=-1))


def test_pipeline_throughput_reports_images_per_second(monkeypatch):
  drawn = [0]  # batches taken from the pipeline so far
  make_dataset = pipeline.make_dataset

  def counting_dataset(*args, **kwargs):
    ds, source = make_dataset(*args, **kwargs)

    class Counted:
      def __iter__(self):
        for batch in ds:
          drawn[0] += 1
          yield batch
    return Counted(), source

  # A stand-in clock in pipeline.py only: 0.25 s per batch drawn, from 1000 s. Every time,
  # difference and quotient below is a short binary fraction, exact in float64: the
  # figures are compared with ==.
  monkeypatch.setattr(pipeline, "make_dataset", counting_dataset)
  monkeypatch.setattr(pipeline, "time", types.SimpleNamespace(
      perf_counter=lambda: 1000.0 + 0.25 * drawn[0]))
  result = data.pipeline_throughput(tiny(), num_batches=15, batch_size=16)
  # Warm-up: num_batches // 5 = 3 (at least 2) batches, the first of them timed apart.
  assert result["warmup_batches"] == 3 and drawn[0] == 3 + 15
  assert result["first_batch_s"] == 0.25 and result["seconds"] == 15 * 0.25
  assert result["images_per_s"] == 15 * 16 / 3.75 == 64.0  # timed batches only
  assert result["batches_per_s"] == 15 / 3.75 == 4.0
  assert result["num_batches"] == 15 and result["batch_size"] == 16
  # What training reads: uint8 [32, 32, 1] (tiny's size), the whole digits set.
  assert result["image_shape"] == [32, 32, 1] and result["dtype"] == "uint8"
  assert result["num_examples"] == 1797 and result["dataset"] == "digits"
  assert result["cache"] == "memory"
  drawn[0] = 0
  result = data.pipeline_throughput(tiny(), num_batches=4, batch_size=8, uint8=False)
  assert result["warmup_batches"] == 2 and drawn[0] == 2 + 4  # 4 // 5 = 0: the floor of 2
  assert result["images_per_s"] == 4 * 8 / 1.0 and result["dtype"] == "float32"
