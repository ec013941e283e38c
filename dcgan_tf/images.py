"""Image values and pictures: float [-1, 1] <-> uint8 [0, 255], sample grids, PNG files.

The one owner of pixel conversions: the data pipeline quantizes its cached images
with `quantize` and scales them with `scale_to_unit` (or the train step does, for uint8
batches), and the sample grids, `sample` and the exported SavedModel map generator
outputs with `to_uint8`.
"""

import math

import numpy as np
import tensorflow as tf

from dcgan_tf import atomic


def quantize(values):
  """Any numeric tensor with values in [0, 255] -> uint8, rounded and clipped."""
  return tf.cast(tf.clip_by_value(tf.round(tf.cast(values, tf.float32)), 0.0, 255.0), tf.uint8)


def scale_to_unit(images):
  """Values in [0, 255] (uint8 or float) -> float32 in [-1, 1]: the pipeline's scaling, and
  the train step's for batches that cross to the device as uint8 (4x fewer bytes)."""
  return tf.clip_by_value(tf.cast(images, tf.float32) / 127.5 - 1.0, -1.0, 1.0)


def to_uint8(images):
  """float [-1, 1] -> uint8 [0, 255] (tensor in, tensor out; rounds, clips)."""
  return quantize((tf.cast(images, tf.float32) + 1.0) * 127.5)


def grid_columns(num: int) -> int:
  """Columns of the squarest grid of `num` images: ceil(sqrt(num))."""
  return math.ceil(math.sqrt(num))


def grid_labels(num: int, num_classes: int):
  """Labels for a grid of `num` samples, row r showing class r % num_classes: int32 [num],
  or None when unconditional (num_classes == 0)."""
  if not num_classes:
    return None
  cols = grid_columns(num)
  return np.array([(i // cols) % num_classes for i in range(num)], np.int32)


def grid(images, rows=None, pad=2):
  """[N, H, W, C] (any dtype) -> one [rows*(H+pad)+pad, cols*(W+pad)+pad, C] numpy tile.

  Default layout is the squarest (grid_columns). Padding is black (0).
  """
  images = np.asarray(images)
  n, h, w, c = images.shape
  cols = math.ceil(n / rows) if rows else grid_columns(n)
  rows = rows or math.ceil(n / cols)
  out = np.zeros([rows * (h + pad) + pad, cols * (w + pad) + pad, c], images.dtype)
  for i in range(n):
    r, col = divmod(i, cols)
    top, left = pad + r * (h + pad), pad + col * (w + pad)
    out[top:top + h, left:left + w] = images[i]
  return out


def save_png(image_uint8, path):
  """Writes uint8 [H, W, 1|3] to `path` atomically. Returns `path`."""
  data = tf.io.encode_png(tf.convert_to_tensor(np.asarray(image_uint8, np.uint8))).numpy()
  return atomic.write_bytes(path, data)
