"""The serving signatures of an exported generator, with the checks that keep one request
from taking a server down.

Images are uint8 [N, H, W, C] in [0, 255]; PNGs are one encoded string per image.
Unconditional generator:
  serving_default(z float32 [None, latent_dim])                       -> {"images"}
  generate(num int32 [], seed int64 [])                                -> {"images"}
  generate_truncated(num int32 [], seed int64 [], truncation float32 []) -> {"images", "z"}
  generate_png(num int32 [], seed int64 [])                            -> {"png_bytes"}
Conditional generators (num_classes > 0) take `labels int32 [None]` in serving_default and
`label int32 []` (for all `num` rows) as the last input of the other three.

Checks, each an InvalidArgumentError naming the rule, run before anything is allocated:
  - a batch (num, or the rows of z) in [0, max_batch], max_batch fixed at export;
  - z finite (NaN or inf would give black or saturated images without a word);
  - one label per row of z, each in [0, num_classes) (unchecked, the embedding lookup fails deep inside on a CPU
    and returns an all-zero embedding on a GPU);
  - truncation > 0.
`generate*` draw z with stateless ops seeded by `seed` only (noise.py, the "sample_noise"
stream of seeds.py): a seed gives the same z for every label and every call, and the z that
`sample --seed` and `evaluate --seed` draw. `generate_truncated` maps the same uniforms
through the normal's inverse CDF restricted to [-t, t] (noise.py): z ~ N(0, 1) conditioned on
|z| <= t, elementwise (BigGAN's truncation trick; the `z` output lets a client replay it
through serving_default). The `_bytes` suffix makes TF Serving's REST API send the PNGs
as {"b64": ...}.
"""

import keras
import tensorflow as tf

from dcgan_tf import noise
from dcgan_tf import seeds
from dcgan_tf.images import to_uint8

# The example and warm-up requests' z and seed: one stream for every export, in [0, 2**31).
EXAMPLE_SEED = seeds.derive(0, "export_inputs")
DEFAULT_MAX_BATCH = 1024  # images per request; a 64x64 RGB batch of 1,024 is 12.6 MB of uint8
SIGNATURES = ("serving_default", "generate", "generate_truncated", "generate_png")


def _checked_batch(n, max_batch: int, what: str):
  """n int32 [] -> n, after an InvalidArgumentError unless 0 <= n <= max_batch."""
  message = f"{what} must be in [0, {max_batch}] (the export's --max_batch)"
  with tf.control_dependencies([
      tf.debugging.assert_non_negative(n, message=message),
      tf.debugging.assert_less_equal(n, tf.constant(max_batch, n.dtype), message=message)]):
    return tf.identity(n)


def _checked_z(z, max_batch: int):
  rows = _checked_batch(tf.shape(z, out_type=tf.int32)[0], max_batch, "the rows of z")
  with tf.control_dependencies([rows, tf.debugging.assert_all_finite(
      z, "z must be finite (got NaN or inf)")]):
    return tf.identity(z)


def _checked_labels(labels, num_classes: int):
  message = f"labels must be in [0, {num_classes})"
  with tf.control_dependencies([
      tf.debugging.assert_non_negative(labels, message=message),
      tf.debugging.assert_less(labels, tf.constant(num_classes, tf.int32), message=message)]):
    return tf.identity(labels)


def _checked_truncation(t):
  with tf.control_dependencies([tf.debugging.assert_positive(
      t, message="truncation must be > 0 (z is kept within [-truncation, truncation])")]):
    return tf.identity(t)


def build_archive(generator, latent_dim: int, num_classes: int = 0,
                  max_batch: int = DEFAULT_MAX_BATCH) -> keras.export.ExportArchive:
  """An ExportArchive holding `generator` and the four signatures of the module docstring."""
  archive = keras.export.ExportArchive()
  # No archive.track(generator): add_endpoint tracks the variables the signatures use, and
  # Keras 3.15's track() adds the layer's Keras variables as a second list that SavedModel
  # writes again (a 64x64 G's 14 MB of weights became 28 MB). track() is for non-variable
  # resources (lookup tables); G has none.
  z_spec = tf.TensorSpec([None, latent_dim], tf.float32, name="z")
  num_spec = tf.TensorSpec([], tf.int32, name="num")
  seed_spec = tf.TensorSpec([], tf.int64, name="seed")
  t_spec = tf.TensorSpec([], tf.float32, name="truncation")
  label_specs = [tf.TensorSpec([], tf.int32, name="label")] if num_classes else []

  serve_specs = [z_spec] + ([tf.TensorSpec([None], tf.int32, name="labels")] if num_classes
                            else [])

  # G traced once: the four signatures call this one function (tracing G per signature
  # doubled the export's time).
  @tf.function(input_signature=serve_specs)
  def render(z, *labels):
    return to_uint8(generator(z, labels[0] if labels else None, training=False))

  def images(z, labels):
    return render(z) if labels is None else render(z, labels)

  def labels_for(num, label):
    """One label for all `num` rows, checked; None for an unconditional G."""
    if not num_classes:
      return None
    return _checked_labels(tf.fill(tf.reshape(num, [1]), label[0]), num_classes)

  def drawn(num, seed, label, truncation=None):
    """(z, labels) of a generate* request, after its checks."""
    num = _checked_batch(num, max_batch, "num")
    if truncation is not None:
      truncation = _checked_truncation(truncation)
    z = noise.normal(num, latent_dim, seed, truncation)
    return z, labels_for(num, label)

  # label: [] for an unconditional G, [label] for a conditional one (the signatures differ
  # only by that trailing input).
  def serve(z, *labels):
    z = _checked_z(z, max_batch)
    if not labels:
      return {"images": images(z, None)}
    with tf.control_dependencies([tf.debugging.assert_equal(
        tf.shape(labels[0])[0], tf.shape(z)[0],
        message="labels must have one entry per row of z")]):
      return {"images": images(z, _checked_labels(labels[0], num_classes))}

  def generate(num, seed, *label):
    return {"images": images(*drawn(num, seed, label))}

  def generate_truncated(num, seed, truncation, *label):
    z, labels = drawn(num, seed, label, truncation)
    return {"images": images(z, labels), "z": z}

  def generate_png(num, seed, *label):
    batch = images(*drawn(num, seed, label))
    return {"png_bytes": tf.map_fn(tf.io.encode_png, batch,
                                   fn_output_signature=tf.TensorSpec([], tf.string))}

  # The first endpoint added is also the archive's serving_default.
  for name, fn, specs in (("serving_default", serve, serve_specs),
                          ("generate", generate, [num_spec, seed_spec] + label_specs),
                          ("generate_truncated", generate_truncated,
                           [num_spec, seed_spec, t_spec] + label_specs),
                          ("generate_png", generate_png, [num_spec, seed_spec] + label_specs)):
    archive.add_endpoint(name, tf.function(fn, input_signature=specs))
  return archive


def example_inputs(name: str, latent_dim: int, num_classes: int, num: int = 2) -> dict:
  """Keyword inputs of a valid `num`-image request to signature `name` (checks, warm-up)."""
  if name == "serving_default":
    inputs = dict(z=tf.random.stateless_normal([num, latent_dim], seed=[EXAMPLE_SEED, 0]))
    if num_classes:
      inputs["labels"] = tf.zeros([num], tf.int32)
    return inputs
  inputs = dict(num=tf.constant(num, tf.int32), seed=tf.constant(EXAMPLE_SEED, tf.int64))
  if name == "generate_truncated":
    inputs["truncation"] = tf.constant(1.0)
  if num_classes:
    inputs["label"] = tf.constant(0, tf.int32)
  return inputs
