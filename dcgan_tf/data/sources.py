"""Named datasets and where their images come from.

Every name in config.DATASETS maps to a function (config, shard) -> Source.
Local files win over TFDS so that machines without network train on real data:
  mnist, fashion_mnist: IDX files in --data_dir (or Debian's dataset-* folders), else TFDS;
  celeba: an extracted img_align_celeba/ folder under --manual_dir/--data_dir, else TFDS celeb_a;
  lsun_*: LSUN's LMDB export (needs `pip install lmdb`) or an image folder, else TFDS lsun;
  others: TFDS (cifar10, oxford_iiit_pet, cars196, any tfds:NAME[/CONFIG]).
"""

import functools
import gzip
import os
import re
import struct
from typing import Optional

import numpy as np
import tensorflow as tf
from absl import logging

from dcgan_tf import seeds
from dcgan_tf.config import Config
from dcgan_tf.data import files
from dcgan_tf.data.base import NO_SHARD, Shard, Source, shard_dataset, shard_size
from dcgan_tf.errors import UserError

AUTOTUNE = tf.data.AUTOTUNE

# Where Debian's dataset-* packages put the IDX files.
DEBIAN_DATASETS = {"fashion_mnist": "/usr/share/datasets/fashion-mnist",
                   "mnist": "/usr/share/datasets/mnist"}

# TFDS names of the named datasets that fall back to TFDS by name (celeba and lsun_* name
# theirs beside their local forms, below).
TFDS_NAMES = {"mnist": "mnist", "fashion_mnist": "fashion_mnist", "cifar10": "cifar10",
              "pets": "oxford_iiit_pet", "cars": "cars196"}

CELEBA_HINT = (
    "CelebA's Google Drive download often fails (quota): place the files by hand instead: "
    "download img_align_celeba.zip from the CelebA site, unzip it so that "
    "DIR/img_align_celeba/000001.jpg exists, and set manual_dir=DIR "
    "(or use dataset=folder:DIR/img_align_celeba)")
LSUN_HINT = (
    "TFDS builds 'lsun' with tensorflow-io, which does not load with TF 2.21: place the files "
    "by hand instead: download {cat}_{split}_lmdb.zip from the LSUN site, unzip it so that "
    "DIR/{cat}_{split}_lmdb/data.mdb exists, pip install lmdb, and set manual_dir=DIR "
    "(or export the images to a folder and use dataset=folder:PATH)")


def _name(config: Config) -> str:
  """The name of the Source of config.dataset in logs (data.base.Source)."""
  return f"--dataset={config.dataset}"


def _file_order(config: Config) -> Optional[int]:
  """Seed of the order files are read in (TFDS shuffle_files, folders): the "file_order"
  stream of --seed (seeds.py); None (the stored order) with shuffle_buffer=1. TF combines
  the seed with its global seed, so only the stored order is the same in every process
  (evaluation's real images: evaluate/context.py load_images)."""
  return None if config.shuffle_buffer == 1 else seeds.derive(config.seed, "file_order")


def _array_source(images, labels, num_classes, name, shard) -> Source:
  ds = shard_dataset(tf.data.Dataset.from_tensor_slices((images, labels)), shard)
  return Source(ds, len(images), num_classes, name, shard_examples=shard_size(len(images), shard))


# ------------------------------------------------------------------ in memory

def digits_source(config: Config, shard: Shard = NO_SHARD) -> Source:
  """scikit-learn's bundled 8x8 handwritten digits (1797 images, 10 classes): no network."""
  from sklearn.datasets import load_digits
  digits = load_digits()
  # Pixel values are 0..16: stretch to 0..255.
  images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
  return _array_source(images, digits.target.astype(np.int32), 10, "digits", shard)


def read_idx_gz(path: str) -> np.ndarray:
  """Reads an IDX file (gzipped when the name ends in .gz) as used by MNIST and Fashion-MNIST."""
  opener = gzip.open if path.endswith(".gz") else open
  try:
    with opener(path, "rb") as f:
      data = f.read()
  except (OSError, EOFError) as e:  # gzip raises these on corrupt archives
    raise UserError(f"{path}: cannot read IDX file: {e}") from None
  if len(data) < 4:
    raise UserError(f"{path}: not an IDX file (too short)")
  zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
  if zero != 0 or dtype_code != 0x08:
    raise UserError(f"{path}: not an unsigned-byte IDX file")
  dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
  array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
  if array.size != int(np.prod(dims)):
    raise UserError(f"{path}: truncated IDX file ({array.size} of {int(np.prod(dims))} values)")
  return array.reshape(dims)


def _idx_file(folder: str, stem: str) -> Optional[str]:
  for name in (stem + ".gz", stem):
    if os.path.isfile(os.path.join(folder, name)):
      return os.path.join(folder, name)
  return None


def find_idx_dir(name: str, data_dir: str) -> Optional[str]:
  """First of --data_dir, --data_dir/NAME, Debian's folder holding train-images-idx3-ubyte[.gz]."""
  for folder in (data_dir, os.path.join(data_dir, name) if data_dir else "",
                 DEBIAN_DATASETS.get(name)):
    if folder and _idx_file(folder, "train-images-idx3-ubyte"):
      return folder
  return None


def idx_source(name: str, folder: str, split: str, shard: Shard = NO_SHARD) -> Source:
  """train or test, optionally its first N images as in TFDS: train[:2000] (a small-data run)."""
  prefixes = {"train": "train", "test": "t10k"}
  match = re.fullmatch(r"(train|test)(?:\[:(\d+)\])?", split)
  if not match or match.group(2) == "0":
    raise UserError(f"{split!r} is not in the IDX files of {folder}; valid: train, test, or the "
                    "first N images as train[:N] / test[:N]", "split")
  split, first = match.group(1), int(match.group(2)) if match.group(2) else None
  found = {}
  for kind, stem in (("images", "images-idx3-ubyte"), ("labels", "labels-idx1-ubyte")):
    stem = f"{prefixes[split]}-{stem}"
    found[kind] = _idx_file(folder, stem)
    if not found[kind]:
      raise UserError(f"{os.path.join(folder, stem)}.gz is missing", "data_dir")
  images = read_idx_gz(found["images"])[:first, ..., None]
  labels = read_idx_gz(found["labels"])[:first].astype(np.int32)
  if len(images) != len(labels):
    raise UserError(f"{folder} has {len(images)} images but {len(labels)} labels", "data_dir")
  logging.info("%s: %d %s images from IDX files in %s", name, len(images), split, folder)
  return _array_source(images, labels, 10, name, shard)


# ------------------------------------------------------------------------ TFDS

def _one_line(error: Exception) -> str:
  text = str(error).strip()
  lines = [line.strip() for line in text.splitlines() if line.strip()]
  return f"{type(error).__name__}: {lines[0][:300] if lines else ''}"


def tfds_source(tfds_name: str, config: Config, name: str, shard: Shard = NO_SHARD,
                hint: str = "") -> Source:
  """A TFDS image dataset: its first Image feature ('image' preferred) and ClassLabel 'label'.
  name: the Source's name (data.base.Source)."""
  import tensorflow_datasets as tfds
  hint = hint or ("Without network, prepare it elsewhere and set its data_dir, "
                  "or use dataset=folder:PATH")
  try:
    builder = tfds.builder(tfds_name, data_dir=config.data_dir or None)
  except tfds.core.registered.DatasetNotFoundError:
    raise UserError(f"TFDS has no dataset {tfds_name!r} (names as in tfds.list_builders(), "
                    "e.g. tfds:cifar10 or tfds:lsun/church_outdoor)", "dataset") from None
  features = builder.info.features
  images = [k for k, f in features.items() if isinstance(f, tfds.features.Image)]
  if not images:
    raise UserError(f"TFDS dataset {tfds_name!r} has no image feature "
                    f"(features: {', '.join(features.keys())})", "dataset")
  image_key = "image" if "image" in images else images[0]
  label = features["label"] if "label" in features.keys() else None
  num_classes = label.num_classes if isinstance(label, tfds.features.ClassLabel) else 0
  split = config.split
  if shard[0] > 1:  # each input pipeline reads its own contiguous slice of the files
    split = tfds.even_splits(config.split, n=shard[0])[shard[1]]
  try:
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=config.manual_dir or None))
    # All features are decoded (SkipDecoding of e.g. the pets' masks would save little,
    # once per image before the cache, and breaks tfds.testing.mock_data).
    order = _file_order(config)
    ds = builder.as_dataset(split=split, shuffle_files=order is not None,
                            read_config=tfds.ReadConfig(shuffle_seed=order))
  except Exception as e:  # TFDS raises many types (network, checksum, missing files, split).
    raise UserError(f"could not load TFDS dataset {tfds_name!r} for {config.dataset!r} "
                    f"({_one_line(e)}). {hint}", "dataset") from None
  try:
    total = builder.info.splits[config.split].num_examples
  except (KeyError, ValueError, AssertionError):  # not generated (mock data), odd split
    total = -1

  def pick(example):
    y = tf.cast(example["label"], tf.int32) if num_classes else tf.constant(0, tf.int32)
    return example[image_key], y

  ds = ds.map(pick, num_parallel_calls=AUTOTUNE)
  logging.info("%s: TFDS %s split %s (%s examples, %d classes)", name, tfds_name, config.split,
               total if total >= 0 else "unknown", num_classes)
  return Source(ds, total, num_classes, name, shard_examples=shard_size(total, shard))


# ----------------------------------------------------------- named datasets

def _local_dirs(config: Config):
  """Folders searched for hand-placed files, in order."""
  dirs = [config.manual_dir, config.data_dir,
          os.path.join(config.data_dir, "downloads", "manual") if config.data_dir else ""]
  return [os.path.expanduser(d) for d in dirs if d]


def _find_local(config: Config, name: str, is_match) -> Optional[str]:
  """DIR/name for DIR in _local_dirs (or DIR itself when named `name`) passing is_match."""
  for folder in _local_dirs(config):
    for candidate in (os.path.join(folder, name), folder):
      if os.path.basename(os.path.normpath(candidate)) == name and is_match(candidate):
        return candidate
  return None


def mnist_like_source(name: str, config: Config, shard: Shard = NO_SHARD) -> Source:
  folder = find_idx_dir(name, config.data_dir)
  if folder:
    return idx_source(name, folder, config.split, shard)
  return tfds_source(TFDS_NAMES[name], config, _name(config), shard)


def tfds_named_source(name: str, config: Config, shard: Shard = NO_SHARD) -> Source:
  return tfds_source(TFDS_NAMES[name], config, _name(config), shard)


def celeba_source(config: Config, shard: Shard = NO_SHARD) -> Source:
  """Aligned CelebA (202,599 faces, 178x218): an img_align_celeba/ folder, else TFDS celeb_a.

  The folder holds all images; --split applies to TFDS only. No labels (the 40
  binary attributes are not classes).
  """
  folder = _find_local(config, "img_align_celeba", os.path.isdir)
  if folder:
    return files.folder_source(folder, _name(config), _file_order(config), shard, labelled=False)
  return tfds_source("celeb_a", config, _name(config), shard, hint=CELEBA_HINT)


def lsun_source(category: str, config: Config, shard: Shard = NO_SHARD) -> Source:
  """LSUN scenes: {category}_{split}_lmdb/ (LMDB), an image folder {category}_{split}/, or TFDS."""
  split = {"validation": "val"}.get(config.split, config.split)
  stem = f"{category}_{split}"
  lmdb_dir = _find_local(config, stem + "_lmdb", files.find_lmdb)
  if lmdb_dir:
    return files.lmdb_source(lmdb_dir, _name(config), shard)
  folder = _find_local(config, stem, os.path.isdir)
  if folder:
    return files.folder_source(folder, _name(config), _file_order(config), shard, labelled=False)
  return tfds_source(f"lsun/{category}", config, _name(config), shard,
                     hint=LSUN_HINT.format(cat=category, split=split))


SOURCES = {
    "digits": digits_source,
    "mnist": functools.partial(mnist_like_source, "mnist"),
    "fashion_mnist": functools.partial(mnist_like_source, "fashion_mnist"),
    "cifar10": functools.partial(tfds_named_source, "cifar10"),
    "celeba": celeba_source,
    "lsun_church": functools.partial(lsun_source, "church_outdoor"),
    "lsun_bedroom": functools.partial(lsun_source, "bedroom"),
    "pets": functools.partial(tfds_named_source, "pets"),
    "cars": functools.partial(tfds_named_source, "cars"),
}


def known_datasets():
  return sorted(SOURCES) + ["tfds:NAME[/CONFIG]", "folder:PATH"]


def get_source(config: Config, shard: Shard = NO_SHARD) -> Source:
  """The Source named by config.dataset, reading only this input pipeline's shard."""
  name = config.dataset
  if name.startswith("tfds:") and len(name) > 5:
    return tfds_source(name[len("tfds:"):], config, _name(config), shard)
  if name.startswith("folder:") and len(name) > 7:
    return files.folder_source(name[len("folder:"):], _name(config), _file_order(config), shard)
  if name not in SOURCES:
    raise UserError(f"unknown dataset {name!r}; valid: {', '.join(known_datasets())}", "dataset")
  return SOURCES[name](config, shard)
