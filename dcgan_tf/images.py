"""Image utilities: [-1, 1] floats to uint8, grids, PNG files."""

import math
import os

import numpy as np
import tensorflow as tf


def to_uint8(images):
  """float [-1, 1] -> uint8 [0, 255] (tensor in, tensor out; rounds, clips)."""
  images = tf.cast(images, tf.float32)
  return tf.cast(tf.clip_by_value(tf.round((images + 1.0) * 127.5), 0.0, 255.0), tf.uint8)


def grid(images, rows=None, pad=2):
  """[N, H, W, C] (any dtype) -> one [rows*(H+pad)+pad, cols*(W+pad)+pad, C] numpy tile.

  Default layout is the squarest: cols = ceil(sqrt(N)). Padding is black (0).
  """
  images = np.asarray(images)
  n, h, w, c = images.shape
  cols = math.ceil(n / rows) if rows else math.ceil(math.sqrt(n))
  rows = rows or math.ceil(n / cols)
  out = np.zeros([rows * (h + pad) + pad, cols * (w + pad) + pad, c], images.dtype)
  for i in range(n):
    r, col = divmod(i, cols)
    out[pad + r * (h + pad): pad + r * (h + pad) + h, pad + col * (w + pad): pad + col * (w + pad) + w] = images[i]
  return out


def save_png(image_uint8, path):
  """Writes uint8 [H, W, 1|3] to `path` atomically (tmp file, then rename)."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  data = tf.io.encode_png(tf.convert_to_tensor(np.asarray(image_uint8, np.uint8))).numpy()
  tmp = path + ".tmp"
  with open(tmp, "wb") as f:
    f.write(data)
  os.replace(tmp, path)
  return path
