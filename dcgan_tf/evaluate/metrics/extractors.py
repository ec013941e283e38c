"""Feature extractors for FID / KID / IS: images in [-1, 1] -> (features, logits).

Every extractor has a `name` that goes into the results beside each number:
FID values are only comparable when they were computed with the same features.

  KerasInception   keras.applications.InceptionV3, 2048-d `avg_pool` features, 1000
                   ImageNet logits. Keras' ImageNet weights are NOT the weights of the
                   standard TF FID: its numbers are not comparable with published FIDs.
  GraphDefInception  the 2015-12-05 Inception graph `classify_image_graph_def.pb` that
                   the reference TF FID (Heusel et al.) uses: 2048-d `pool_3` features,
                   1008 logits. Comparable with published FIDs (given enough samples).
  ClassifierFeatures  the small CNN of classifier.py trained on the dataset's labels
                   ("classifier FID"): works offline, comparable only within one dataset
                   and one cached classifier.
"""

import hashlib
import os

import numpy as np
import tensorflow as tf

from dcgan_tf.errors import UserError
from dcgan_tf.evaluate import classifier

KERAS_WEIGHTS_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"
INCEPTION_SIZE = 299
HOW_TO_GET_WEIGHTS = (
    "On a machine with network run `python -c \"import keras; keras.applications.InceptionV3()\"` "
    f"and copy ~/.keras/models/{KERAS_WEIGHTS_FILE} here (or pass its path with "
    "--inception_weights=PATH). These Keras weights are not the standard TF-FID weights: their "
    "FIDs are not comparable with published ones; for those pass "
    "--inception_weights=PATH/classify_image_graph_def.pb (from the 2015-12-05 Inception tarball "
    "inception-2015-12-05.tgz). Offline alternative: --feature_extractor=classifier.")


def keras_cache_path():
  home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
  return os.path.join(home, "models", KERAS_WEIGHTS_FILE)


def to_rgb(images):
  """[N, H, W, 1|3] -> [N, H, W, 3] (grayscale repeated), same range."""
  images = tf.convert_to_tensor(images, tf.float32)
  return tf.image.grayscale_to_rgb(images) if images.shape[-1] == 1 else images


def _batched(fn, images, batch_size):
  """Applies fn(batch) -> (features, logits) over `images` in batches; numpy out."""
  feats, logits = [], []
  for start in range(0, len(images), batch_size):
    f, l = fn(np.asarray(images[start:start + batch_size], np.float32))
    feats.append(np.asarray(f, np.float32).reshape(len(f), -1))
    logits.append(np.asarray(l, np.float32).reshape(len(l), -1))
  return np.concatenate(feats), np.concatenate(logits)


def weights_sha256(model) -> str:
  """First 16 hex digits of sha256 over a Keras model's weights (protocol records: two
  extractors with one name but other weights give incomparable numbers)."""
  digest = hashlib.sha256()
  for w in model.weights:
    digest.update(np.ascontiguousarray(w.numpy()).tobytes())
  return digest.hexdigest()[:16]


class KerasInception:
  """weights: "imagenet" (the Keras cache, never downloaded here), a .h5 path, or None
  (random init: meaningless numbers, for tests of the code path only)."""

  def __init__(self, weights="imagenet", batch_size=32):
    import keras
    if weights == "imagenet":
      if not os.path.isfile(keras_cache_path()):
        raise UserError(f"InceptionV3 ImageNet weights not found at {keras_cache_path()}. "
                        f"{HOW_TO_GET_WEIGHTS}", "inception_weights")
      weights = keras_cache_path()  # a path: Keras loads it and never tries to download
    elif weights is not None and not os.path.isfile(weights):
      raise UserError(f"no file {weights!r}. {HOW_TO_GET_WEIGHTS}", "inception_weights")
    model = keras.applications.InceptionV3(weights=weights, classifier_activation=None)
    self.model = keras.Model(model.input, [model.get_layer("avg_pool").output, model.output])
    self.name = ("inception_v3_keras_imagenet" if weights else "inception_v3_random_init"
                 " (meaningless: code-path test only)")
    self.batch_size = batch_size
    self.input_resize = f"bilinear to {INCEPTION_SIZE}x{INCEPTION_SIZE}"

  @property
  def weights_hash(self):
    return weights_sha256(self.model)

  def _forward(self, images):
    # Keras' InceptionV3 takes [-1, 1] input ("tf" preprocessing): our range already.
    x = tf.image.resize(to_rgb(images), [INCEPTION_SIZE, INCEPTION_SIZE], method="bilinear")
    return self.model(x, training=False)

  def __call__(self, images):
    """float32 [N, H, W, C] in [-1, 1] -> (features [N, 2048], logits [N, 1000])."""
    # Eager on purpose: tracing InceptionV3 into a tf.function costs ~30 s on 2 CPU cores,
    # more than the eager overhead of a few thousand images.
    return _batched(self._forward, images, self.batch_size)


class GraphDefInception:
  """The standard TF FID's Inception (2015 GraphDef): `ExpandDims:0` in, `pool_3:0` out.

  The graph takes float pixels in [0, 255] of any size, resizes them to 299x299
  (bilinear) and normalises them itself. Its softmax head reshapes to batch 1, so
  logits are computed here from `pool_3` and the graph's softmax weights and biases.
  """

  INPUT, POOL, WEIGHTS, BIASES = "ExpandDims:0", "pool_3:0", "softmax/weights:0", "softmax/biases:0"

  def __init__(self, path, batch_size=32):
    if not os.path.isfile(path):
      raise UserError(f"no file {path!r}. {HOW_TO_GET_WEIGHTS}", "inception_weights")
    graph_def = tf.compat.v1.GraphDef()
    with open(path, "rb") as f:
      try:
        graph_def.ParseFromString(f.read())
      except Exception as e:  # protobuf DecodeError
        raise UserError(f"{path} is not a GraphDef .pb ({e})", "inception_weights") from None

    def imported(images):
      return tf.compat.v1.import_graph_def(graph_def, input_map={self.INPUT: images},
                                           return_elements=[self.POOL, self.WEIGHTS, self.BIASES],
                                           name="inception")

    try:
      self._fn = tf.compat.v1.wrap_function(
          imported, [tf.TensorSpec([None, None, None, 3], tf.float32)])
    except (ValueError, KeyError) as e:
      raise UserError(f"{path} lacks the tensors {self.INPUT}, {self.POOL}, {self.WEIGHTS}, "
                      f"{self.BIASES} of classify_image_graph_def.pb ({e})",
                      "inception_weights") from None
    self.name = "inception_2015_graphdef_pool3 (standard TF FID)"
    self.batch_size = batch_size
    self.input_resize = "bilinear to 299x299 (inside the graph)"
    with open(path, "rb") as f:
      self.weights_hash = hashlib.sha256(f.read()).hexdigest()[:16]

  def _forward(self, images):
    pool, weights, biases = self._fn(to_rgb((images + 1.0) * 127.5))  # [-1, 1] -> [0, 255]
    pool = tf.reshape(pool, [tf.shape(pool)[0], -1])
    return pool, tf.matmul(pool, weights) + biases

  def __call__(self, images):
    """float32 [N, H, W, C] in [-1, 1] -> (features [N, 2048], logits [N, 1008])."""
    return _batched(self._forward, images, self.batch_size)


class ClassifierFeatures:
  """Penultimate features (>= 0) and logits of a classifier.py model."""

  def __init__(self, model, name, batch_size=256):
    self.model = classifier.feature_model(model)
    self.name, self.batch_size = name, batch_size
    self.input_resize = "none (the run's image size)"

  @property
  def weights_hash(self):
    return weights_sha256(self.model)

  def __call__(self, images):
    return _batched(lambda x: self.model(x, training=False), images, self.batch_size)


def inception(weights_path="", batch_size=32):
  """The Inception extractor for `--inception_weights`: "" = Keras cache, "random" = random
  init (tests), *.pb = the 2015 GraphDef, anything else = a Keras .h5 weights file."""
  if weights_path == "random":
    return KerasInception(None, batch_size)
  if weights_path.endswith(".pb"):
    return GraphDefInception(weights_path, batch_size)
  return KerasInception(weights_path or "imagenet", batch_size)
