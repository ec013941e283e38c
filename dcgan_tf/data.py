"""tf.data input pipelines: every dataset ends as batches of (images, labels).

images: float32 [B, S, S, C] in [-1, 1] (NHWC); labels: int32 [B] (0 when the
dataset has none). Sources give uint8 images of any size and 1, 3 or 4
channels; `preprocess` converts channels, resizes the shorter side to S,
center-crops to S x S and scales to [-1, 1], as the DCGAN paper did.
"""

import dataclasses
import gzip
import os
import struct
from typing import Callable, Optional

import numpy as np
import tensorflow as tf

from dcgan_tf.config import Config

AUTOTUNE = tf.data.AUTOTUNE

# Where Debian's dataset-* packages put the IDX files.
DEBIAN_DATASETS = {"fashion_mnist": "/usr/share/datasets/fashion-mnist",
                   "mnist": "/usr/share/datasets/mnist"}


@dataclasses.dataclass
class Source:
  """An unbatched dataset of (uint8 image [H, W, C], int32 label) plus facts about it."""
  dataset: tf.data.Dataset
  num_examples: int  # -1 when unknown
  num_classes: int  # 0 when unlabelled
  name: str


# ---------------------------------------------------------------- preprocessing

def to_channels(image, channels: int):
  """uint8/float image [H, W, 1|3|4] -> [H, W, channels]. Drops alpha; RGB<->gray."""
  image = tf.convert_to_tensor(image)
  c = image.shape[-1]
  if c == 4:
    image = image[..., :3]
    c = 3
  if c == channels:
    return image
  if channels == 1:
    gray = tf.image.rgb_to_grayscale(tf.cast(image, tf.float32))
    return tf.cast(tf.round(gray), image.dtype) if image.dtype == tf.uint8 else gray
  return tf.image.grayscale_to_rgb(image)


def resize_center_crop(image, size: int):
  """[H, W, C] any dtype -> float32 [size, size, C], same value range.

  Resizes so the shorter side is `size` (area-averaging when shrinking, bilinear
  when growing), then crops the center square.
  """
  image = tf.cast(image, tf.float32)
  shape = tf.shape(image)
  h, w = tf.cast(shape[0], tf.float32), tf.cast(shape[1], tf.float32)
  scale = tf.cast(size, tf.float32) / tf.minimum(h, w)
  new_h = tf.maximum(size, tf.cast(tf.round(h * scale), tf.int32))
  new_w = tf.maximum(size, tf.cast(tf.round(w * scale), tf.int32))
  image = tf.image.resize(image, [new_h, new_w], method="bilinear", antialias=True)
  top = (new_h - size) // 2
  left = (new_w - size) // 2
  image = image[top:top + size, left:left + size, :]
  return tf.ensure_shape(image, [size, size, None])


def scale_to_unit(image):
  """Values in [0, 255] -> float32 in [-1, 1]."""
  return tf.clip_by_value(tf.cast(image, tf.float32) / 127.5 - 1.0, -1.0, 1.0)


def preprocess(image, image_size: int, channels: int):
  """uint8 [H, W, 1|3|4] -> float32 [image_size, image_size, channels] in [-1, 1]."""
  image = to_channels(image, channels)
  image = resize_center_crop(image, image_size)
  image = tf.ensure_shape(image, [image_size, image_size, channels])
  return scale_to_unit(image)


# ---------------------------------------------------------------------- sources

def digits_source(config: Config) -> Source:
  """scikit-learn's bundled 8x8 handwritten digits (1797 images, 10 classes): no network."""
  from sklearn.datasets import load_digits
  digits = load_digits()
  # Pixel values are 0..16: stretch to 0..255.
  images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
  labels = digits.target.astype(np.int32)
  ds = tf.data.Dataset.from_tensor_slices((images, labels))
  return Source(ds, len(images), 10, "digits")


def read_idx_gz(path: str) -> np.ndarray:
  """Reads an IDX file (optionally gzipped) as used by MNIST and Fashion-MNIST."""
  opener = gzip.open if path.endswith(".gz") else open
  with opener(path, "rb") as f:
    data = f.read()
  if len(data) < 4:
    raise ValueError(f"{path}: not an IDX file (too short)")
  zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
  if zero != 0 or dtype_code != 0x08:
    raise ValueError(f"{path}: not an unsigned-byte IDX file")
  dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
  array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
  if array.size != int(np.prod(dims)):
    raise ValueError(f"{path}: truncated IDX file ({array.size} of {int(np.prod(dims))} values)")
  return array.reshape(dims)


def _find_idx_dir(name: str, data_dir: str) -> Optional[str]:
  for folder in (data_dir, os.path.join(data_dir, name) if data_dir else "", DEBIAN_DATASETS.get(name)):
    if folder and os.path.isfile(os.path.join(folder, "train-images-idx3-ubyte.gz")):
      return folder
  return None


def idx_source(name: str, folder: str, split: str) -> Source:
  prefix = "train" if split.startswith("train") else "t10k"
  images = read_idx_gz(os.path.join(folder, f"{prefix}-images-idx3-ubyte.gz"))[..., None]
  labels = read_idx_gz(os.path.join(folder, f"{prefix}-labels-idx1-ubyte.gz")).astype(np.int32)
  if len(images) != len(labels):
    raise ValueError(f"{folder}: {len(images)} images but {len(labels)} labels")
  ds = tf.data.Dataset.from_tensor_slices((images, labels))
  return Source(ds, len(images), 10, name)


def tfds_source(tfds_name: str, config: Config, name: str) -> Source:
  import tensorflow_datasets as tfds
  kwargs = {}
  if config.data_dir:
    kwargs["data_dir"] = config.data_dir
  download_config = tfds.download.DownloadConfig(manual_dir=config.manual_dir or None)
  try:
    ds, info = tfds.load(tfds_name, split=config.split, with_info=True, shuffle_files=True,
                         download_and_prepare_kwargs={"download_config": download_config},
                         **kwargs)
  except Exception as e:  # TFDS raises many types (network, checksum, missing files).
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    raise ValueError(f"--dataset={name}: could not load TFDS dataset {tfds_name!r} "
                     f"({type(e).__name__}: {first[:300]}). Without network, prepare it with "
                     f"--data_dir/--manual_dir or use --dataset=folder:PATH.") from None
  features = info.features
  has_label = "label" in features
  num_classes = features["label"].num_classes if has_label else 0

  def pick(example):
    label = tf.cast(example["label"], tf.int32) if has_label else tf.constant(0, tf.int32)
    return example["image"], label

  num = info.splits[config.split].num_examples if config.split in info.splits else -1
  return Source(ds.map(pick, num_parallel_calls=AUTOTUNE), num, num_classes, name)


def mnist_like_source(name: str, config: Config) -> Source:
  folder = _find_idx_dir(name, config.data_dir)
  if folder:
    return idx_source(name, folder, config.split)
  return tfds_source(name, config, name)


SOURCES = {
    "digits": digits_source,
    "mnist": lambda c: mnist_like_source("mnist", c),
    "fashion_mnist": lambda c: mnist_like_source("fashion_mnist", c),
}


def known_datasets():
  return sorted(SOURCES) + ["tfds:NAME[/CONFIG]", "folder:PATH"]


def get_source(config: Config) -> Source:
  name = config.dataset
  if name.startswith("tfds:"):
    return tfds_source(name[len("tfds:"):], config, name)
  if name not in SOURCES:
    raise ValueError(f"--dataset: unknown dataset {name!r}; valid: {', '.join(known_datasets())}")
  return SOURCES[name](config)


# --------------------------------------------------------------------- pipeline

def build_pipeline(source: Source, config: Config, batch_size: int, seed: int,
                   repeat: bool = True, augment: Optional[Callable] = None) -> tf.data.Dataset:
  """Source -> preprocessed, cached, shuffled, batched (drop_remainder), prefetched."""
  size, channels = config.image_size, config.channels

  def prep(image, label):
    return preprocess(image, size, channels), label

  ds = source.dataset.map(prep, num_parallel_calls=AUTOTUNE)
  if config.cache == "memory":
    ds = ds.cache()
  elif config.cache and config.cache != "none":
    ds = ds.cache(config.cache)
  if repeat:
    ds = ds.repeat()
  ds = ds.shuffle(config.shuffle_buffer, seed=seed)
  if augment is not None:
    ds = ds.map(augment, num_parallel_calls=AUTOTUNE)
  ds = ds.batch(batch_size, drop_remainder=True)
  return ds.prefetch(AUTOTUNE)


def make_dataset(config: Config, batch_size: Optional[int] = None, seed: Optional[int] = None,
                 repeat: bool = True):
  """Returns (batched tf.data.Dataset of (images, labels), Source)."""
  source = get_source(config)
  ds = build_pipeline(source, config, batch_size or config.batch_size,
                      config.seed if seed is None else seed, repeat=repeat)
  return ds, source
