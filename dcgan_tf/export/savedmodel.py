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

import json
import os

import keras
import tensorflow as tf
from absl import logging

from dcgan_tf import atomic
from dcgan_tf import inference
from dcgan_tf import models
from dcgan_tf.config import Config
from dcgan_tf.export.options import ExportOptions
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

  def images(z, labels):
    return {"images": to_uint8(generator(z, labels, training=False))}

  if num_classes:
    @tf.function(input_signature=[z_spec, tf.TensorSpec([None], tf.int32, name="labels")])
    def serve(z, labels):
      return images(z, _checked(labels, num_classes))

    @tf.function(input_signature=[num_spec, seed_spec, tf.TensorSpec([], tf.int32, name="label")])
    def generate(num, seed, label):
      labels = _checked(tf.fill(tf.reshape(num, [1]), label), num_classes)
      return images(_noise(num, seed, latent_dim), labels)
  else:
    @tf.function(input_signature=[z_spec])
    def serve(z):
      return images(z, None)

    @tf.function(input_signature=[num_spec, seed_spec])
    def generate(num, seed):
      return images(_noise(num, seed, latent_dim), None)
  # The first endpoint added is also the archive's serving_default.
  archive.add_endpoint("serving_default", serve)
  archive.add_endpoint("generate", generate)
  return archive


def verify(path: str, config: Config, num_classes: int = 0):
  """Loads the SavedModel and calls both signatures once; raises if anything is off."""
  loaded = tf.saved_model.load(path)
  z = tf.zeros([2, config.latent_dim], tf.float32)
  serve, generate = dict(z=z), dict(num=tf.constant(2), seed=tf.constant(0, tf.int64))
  if num_classes:  # the conditional signatures take labels (a signature has no optional input)
    serve["labels"], generate["label"] = tf.zeros([2], tf.int32), tf.constant(0)
  out = loaded.signatures["serving_default"](**serve)["images"]
  gen = loaded.signatures["generate"](**generate)["images"]
  expected = (2, config.image_size, config.image_size, config.channels)
  for name, t in (("serving_default", out), ("generate", gen)):
    if t.dtype != tf.uint8 or tuple(t.shape) != expected:
      raise RuntimeError(f"export check failed: {name} returned {t.dtype.name}{tuple(t.shape)}, "
                         f"expected uint8{expected}")


def export_generator(generator, path: str, config: Config, num_classes: int = 0) -> str:
  """Writes, verifies and moves into place a SavedModel of `generator`. Returns `path`.

  Written to a temporary folder, loaded back and called, and only then renamed over
  `path`: a failed export never replaces a good one. The export computes in float32
  whatever policy `generator` was built under.
  """
  path = os.path.abspath(path)
  generator = models.float32_generator(generator, config, num_classes)
  with atomic.replacing(path) as tmp:
    build_archive(generator, config.latent_dim, num_classes).write_out(tmp, verbose=False)
    verify(tmp, config, num_classes)
  logging.info("Exported and verified SavedModel at %s", path)
  return path


def export_best(workdir, best: dict, config: Config, num_classes: int) -> str:
  """Exports the generator of the best evaluated checkpoint (train/evaluation.py) to
  WORKDIR/saved_model_best, with its step and scores in saved_model_best.json beside it."""
  path = os.path.join(workdir.checkpoint_dir, best["checkpoint"])
  run = inference.load_run(workdir.path, path, discriminator=False)
  out = export_generator(run.generator, workdir.saved_model_best_dir, config, num_classes)
  atomic.write_text(out + ".json", json.dumps(dict(best, checkpoint=path, saved_model=out,
                                                   generator="ema" if run.ema else "trained"),
                                              indent=2, sort_keys=True))
  return out


def export_from_workdir(options: ExportOptions) -> str:
  """Rebuilds G from the workdir, restores the newest (or given) checkpoint, exports."""
  run = inference.load_run(options.workdir, options.checkpoint, discriminator=False,
                           use_ema=options.use_ema)
  return export_generator(run.generator, options.out or run.workdir.saved_model_dir, run.config,
                          run.num_classes)
