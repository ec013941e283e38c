"""SavedModel export of a generator with explicit serving signatures.

Signatures (images uint8 [N, H, W, C] in [0, 255]):
  serving_default(z float32 [None, latent_dim])            -> {"images"}
  generate(num int32 [], seed int64 [])                   -> {"images"}  same seed, same images
Conditional generators (num_classes > 0):
  serving_default(z float32 [None, latent_dim], labels int32 [None]) -> {"images"}
  generate(num int32 [], seed int64 [], label int32 [])   -> {"images"}  label for all num
Labels outside [0, num_classes) raise InvalidArgumentError. `generate` draws
z ~ N(0, 1) with stateless ops seeded by `seed` only, so a seed gives the same z
for every label: rows of one seed across labels show the same "style".
The archive is written to a temporary folder, loaded back and called once, and
only then moved into place, so a failed export never replaces a good one.
"""

import os
import shutil

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from dcgan_tf.images import to_uint8


def _noise(num, seed, latent_dim):
  seed = tf.stack([tf.cast(seed, tf.int64), tf.constant(0, tf.int64)])
  return tf.random.stateless_normal(tf.stack([num, latent_dim]), seed=seed)


def _checked(labels, num_classes):
  """labels int32 [N] -> the same, or an InvalidArgumentError naming the valid range.

  Without the check a bad label fails deep inside the embedding lookup on CPU, and on
  GPU silently returns an all-zero embedding.
  """
  message = f"labels must be in [0, {num_classes})"
  with tf.control_dependencies([
      tf.debugging.assert_non_negative(labels, message=message),
      tf.debugging.assert_less(labels, tf.constant(num_classes, tf.int32), message=message)]):
    return tf.identity(labels)


def build_archive(generator, latent_dim: int, num_classes: int = 0) -> keras.export.ExportArchive:
  archive = keras.export.ExportArchive()
  archive.track(generator)
  z_spec = tf.TensorSpec([None, latent_dim], tf.float32, name="z")
  num_spec = tf.TensorSpec([], tf.int32, name="num")
  seed_spec = tf.TensorSpec([], tf.int64, name="seed")
  if num_classes:
    @tf.function(input_signature=[z_spec, tf.TensorSpec([None], tf.int32, name="labels")])
    def serve(z, labels):
      labels = _checked(labels, num_classes)
      return {"images": to_uint8(generator(z, labels, training=False))}

    @tf.function(input_signature=[num_spec, seed_spec, tf.TensorSpec([], tf.int32, name="label")])
    def generate(num, seed, label):
      labels = _checked(tf.fill(tf.reshape(num, [1]), label), num_classes)
      return {"images": to_uint8(generator(_noise(num, seed, latent_dim), labels, training=False))}
  else:
    @tf.function(input_signature=[z_spec])
    def serve(z):
      return {"images": to_uint8(generator(z, training=False))}

    @tf.function(input_signature=[num_spec, seed_spec])
    def generate(num, seed):
      return {"images": to_uint8(generator(_noise(num, seed, latent_dim), training=False))}
  # The first endpoint added is also the archive's serving_default.
  archive.add_endpoint("serving_default", serve)
  archive.add_endpoint("generate", generate)
  return archive


def verify(path: str, latent_dim: int, image_size: int, channels: int, num_classes: int = 0):
  """Loads the SavedModel and calls both signatures once; raises if anything is off."""
  loaded = tf.saved_model.load(path)
  z = tf.zeros([2, latent_dim], tf.float32)
  if num_classes:
    out = loaded.signatures["serving_default"](z=z, labels=tf.zeros([2], tf.int32))["images"]
    gen = loaded.signatures["generate"](num=tf.constant(2), seed=tf.constant(0, tf.int64),
                                        label=tf.constant(0))["images"]
  else:
    out = loaded.signatures["serving_default"](z=z)["images"]
    gen = loaded.signatures["generate"](num=tf.constant(2), seed=tf.constant(0, tf.int64))["images"]
  expected = (2, image_size, image_size, channels)
  for name, t in (("serving_default", out), ("generate", gen)):
    if t.dtype != tf.uint8 or tuple(t.shape) != expected:
      raise ValueError(f"export check failed: {name} returned {t.dtype.name}{tuple(t.shape)}, "
                       f"expected uint8{expected}")


def export_generator(generator, path: str, latent_dim: int, image_size: int, channels: int,
                     num_classes: int = 0) -> str:
  """Writes, verifies and moves into place a SavedModel of `generator`. Returns `path`."""
  path = os.path.abspath(path)
  tmp = path + ".tmp"
  shutil.rmtree(tmp, ignore_errors=True)
  try:
    build_archive(generator, latent_dim, num_classes).write_out(tmp, verbose=False)
    verify(tmp, latent_dim, image_size, channels, num_classes)
  except Exception:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  old = path + ".old"
  if os.path.exists(path):
    shutil.rmtree(old, ignore_errors=True)
    os.replace(path, old)
  os.replace(tmp, path)
  shutil.rmtree(old, ignore_errors=True)
  logging.info("Exported and verified SavedModel at %s", path)
  return path


def export_from_workdir(workdir: str, out: str = "", checkpoint: str = "") -> str:
  """Rebuilds G from WORKDIR/config.json, restores the newest (or given) checkpoint, exports."""
  from dcgan_tf import checkpoint as ckpt_lib
  from dcgan_tf import config as config_lib
  from dcgan_tf import models
  config = config_lib.load_workdir(workdir)
  num_classes = models.conditional_classes(config)
  generator, _ = models.build_models(config, num_classes)
  ckpt_path, step = ckpt_lib.restore_generator(generator, workdir, checkpoint or None)
  logging.info("Restored generator from %s (step %d)", ckpt_path, step)
  return export_generator(generator, out or os.path.join(workdir, "saved_model"), config.latent_dim,
                          config.image_size, config.channels, num_classes)


def main(argv):
  """`python -m dcgan_tf.export --workdir=W [--out=DIR] [--checkpoint=PATH]`."""
  del argv
  from absl import flags
  logging.set_verbosity(logging.INFO)
  path = export_from_workdir(flags.FLAGS.workdir, flags.FLAGS.out, flags.FLAGS.checkpoint)
  print(f"SavedModel written to {path}")


if __name__ == "__main__":
  from absl import flags
  from dcgan_tf import cli
  flags.DEFINE_string("workdir", None, "Training workdir (holds config.json and checkpoints/).")
  flags.DEFINE_string("out", "", "Output folder. Default: WORKDIR/saved_model.")
  flags.DEFINE_string("checkpoint", "", "Checkpoint path prefix (e.g. W/checkpoints/ckpt-500). "
                      "Default: the newest.")
  flags.mark_flag_as_required("workdir")
  cli.run(main)
