"""Layers the networks share: the conditional label code, maxout, and DCGAN's batch norm."""

import keras
import tensorflow as tf
from keras import layers

from dcgan_tf.models.init import Seeds


def batch_norm(name: str, seeds: Seeds):
  """BatchNormalization as the DCGAN reference uses it.

  momentum 0.9 / epsilon 1e-5 are PyTorch's BatchNorm2d defaults (the reference's);
  gamma ~ N(1, 0.02) as in the paper. Built under a multi-replica strategy, the
  statistics are over the global batch (all-reduced per call): N replicas then train
  like one device with the same global batch.
  """
  synced = tf.distribute.get_strategy().num_replicas_in_sync > 1
  return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=name, synchronized=synced,
                                   gamma_initializer=seeds.normal(name + "/gamma", 1.0, 0.02))


def batch_norm_layers(model) -> list:
  """Every BatchNormalization inside `model` (nested layers included)."""
  return [layer for layer in model._flatten_layers()
          if isinstance(layer, layers.BatchNormalization)]


class LabelEmbedding(layers.Layer):
  """int labels [B] in [0, num_classes) -> float [B, dim] (the conditional variant's label code).

  Rows start ~ N(0, 1), the scale of z in G and of pixels in D (PyTorch's
  nn.Embedding default): Keras' default U(-0.05, 0.05) would let the label start
  20x weaker than the noise, so G would at first ignore it.
  """

  def __init__(self, num_classes, dim, seeds: Seeds, **kw):
    super().__init__(**kw)
    self.embed = layers.Embedding(num_classes, dim, name="table",
                                  embeddings_initializer=seeds.normal("table", 0.0, 1.0))

  def call(self, labels):
    return self.embed(keras.ops.reshape(keras.ops.cast(labels, "int32"), [-1]))


class Maxout(layers.Layer):
  """x [B, N] -> max over `pieces` linear pieces -> [B, units] (Goodfellow et al. 2013)."""

  def __init__(self, units, pieces, kernel_initializer=None, **kw):
    super().__init__(**kw)
    self.units, self.pieces = units, pieces
    self.linear = layers.Dense(units * pieces, kernel_initializer=kernel_initializer,
                               name="linear")

  def call(self, x):
    h = keras.ops.reshape(self.linear(x), [-1, self.units, self.pieces])
    return keras.ops.max(h, axis=-1)
