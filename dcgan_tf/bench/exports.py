"""`python -m dcgan_tf.bench --exports`: each export format of the same generator, side by
side: file size, load time, images/s at --export_batch on this machine, and the largest
difference to the SavedModel's images for the same z.

The generator is the bench's network (the DCGAN paper's 64x64 RGB G by default) with its
seeded initial weights: size and speed do not depend on training, and the difference
check is the one each export runs. Load time: the median of `rounds` loads in a process
that has TensorFlow imported (the first pays no extra: TensorFlow is already up).
"""

import os
import tempfile
import time

import numpy as np
import tensorflow as tf

from dcgan_tf import devices
from dcgan_tf import models
from dcgan_tf.bench import settings as settings_lib
from dcgan_tf.config import Config
from dcgan_tf.export import convert
from dcgan_tf.export import savedmodel


def _size(path):
  if os.path.isfile(path):
    return os.path.getsize(path)
  return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def _timed(fn, rounds):
  """(median seconds of fn(), its last result)."""
  times, out = [], None
  for _ in range(rounds):
    t = time.perf_counter()
    out = fn()
    times.append(time.perf_counter() - t)
  return float(np.median(times)), out


def _loaders(path, fmt, latent_dim, num_classes):
  """(load() -> predict(inputs) -> uint8 images)."""
  if fmt == "savedmodel":
    def load():
      serve = tf.saved_model.load(path).signatures["serving_default"]
      names = ["z", "labels"][:1 + bool(num_classes)]
      return lambda inputs: serve(**dict(zip(names, map(tf.constant, inputs))))["images"].numpy()
    return load
  return lambda: convert.load_file(path)


def compare(config: Config, batch: int = 64, rounds: int = 5):
  """One row per format: kind, format, bytes, load_s, img_per_s, max_diff (grey levels)."""
  config = settings_lib.network_config(config)
  with devices.dtype_policy("float32"):
    generator = models.build_generator(config)
  inputs = convert.check_inputs(config.latent_dim, config.num_classes, batch)
  rows, reference = [], None
  with tempfile.TemporaryDirectory() as root:
    for fmt in ("savedmodel",) + convert.FORMATS:
      path = os.path.join(root, "model" if fmt == "savedmodel" else f"g.{fmt}")
      t = time.perf_counter()
      if fmt == "savedmodel":
        savedmodel.export_generator(generator, path, config)
      else:
        convert.export_file(generator, path, fmt, config, batch=batch)
      export_s = time.perf_counter() - t
      load_s, predict = _timed(_loaders(path, fmt, config.latent_dim, config.num_classes), rounds)
      predict(inputs)  # warm-up: first-call allocation and kernel selection
      run_s, images = _timed(lambda: predict(inputs), rounds)
      reference = images if reference is None else reference
      rows.append(dict(kind="export", format=fmt, bytes=_size(path), export_s=round(export_s, 2),
                       load_s=round(load_s, 3), img_per_s=round(batch / run_s, 1),
                       batch=batch, max_diff=int(np.abs(images.astype(int) - reference).max()),
                       image_size=config.image_size, channels=config.channels,
                       variant=config.variant))
  return rows
