"""Layers the networks share: the conditional label code, maxout, and DCGAN's batch norm."""

import keras
import tensorflow as tf
from keras import layers
from keras.src import backend as keras_backend

from dcgan_tf.models.init import Seeds


def batch_norm(name: str, seeds: Seeds, affine: bool = True):
  """BatchNormalization as the DCGAN reference uses it.

  momentum 0.9 / epsilon 1e-5 are PyTorch's BatchNorm2d defaults (the reference's);
  gamma ~ N(1, 0.02) as in the paper. Built under a multi-replica strategy, the
  statistics are over the global batch (all-reduced per call): N replicas then train
  like one device with the same global batch. affine=False: no gamma or beta (a
  ConditionalBatchNorm supplies them per class).
  """
  synced = tf.distribute.get_strategy().num_replicas_in_sync > 1
  return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=name, synchronized=synced,
                                   center=affine, scale=affine,
                                   gamma_initializer=seeds.normal(name + "/gamma", 1.0, 0.02))


class ConditionalBatchNorm(layers.Layer):
  """Batch norm whose gain and bias are looked up per class (de Vries et al. 2017; the
  projection cGAN's generator, Miyato & Koyama 2018):
  y = BN(x) * gamma[label] + beta[label], x [B, H, W, C], labels int [B] in [0, classes).

  The normalisation is an affine-free DCGAN batch norm (its moving statistics are what
  batch_norm_layers finds, train/ema.py recomputes and inference uses); gamma rows start
  ~ N(1, 0.02) as DCGAN's gammas, beta rows at 0: at step 0 every class is the
  unconditional G's batch norm.
  """

  def __init__(self, num_classes: int, seeds: Seeds, **kw):
    super().__init__(**kw)
    self.num_classes = num_classes
    self.bn = batch_norm("bn", seeds, affine=False)
    self.seeds = seeds

  def build(self, x_shape, labels_shape=None):
    channels = x_shape[-1]
    self.gamma = layers.Embedding(self.num_classes, channels, name="gamma",
                                  embeddings_initializer=self.seeds.normal("gamma", 1.0, 0.02))
    self.beta = layers.Embedding(self.num_classes, channels, name="beta",
                                 embeddings_initializer="zeros")
    labels = [None]
    self.gamma.build(labels)
    self.beta.build(labels)
    self.bn.build(x_shape)

  def call(self, x, labels, training=False):
    labels = keras.ops.reshape(keras.ops.cast(labels, "int32"), [-1])
    gamma = keras.ops.reshape(self.gamma(labels), [-1, 1, 1, x.shape[-1]])
    beta = keras.ops.reshape(self.beta(labels), [-1, 1, 1, x.shape[-1]])
    h = self.bn(x, training=training)
    return h * keras.ops.cast(gamma, h.dtype) + keras.ops.cast(beta, h.dtype)


class SpectralNormalization(layers.SpectralNormalization):
  """keras.layers.SpectralNormalization whose normalisation runs in float32 under any policy.

  The Keras layer writes kernel / sigma back into the (float32) kernel variable on every
  training call. Inside a mixed_float16 layer's autocast scope it reads the kernel as
  float16, so every step would round D's float32 kernels to float16 values and lose each
  Adam update below half a float16 ulp (~5e-4 relative). Here the power iteration, sigma
  and the division read the variables in float32; the wrapped convolution still computes
  in the policy's dtype (its own autocast scope), so no activation is cast. Same variables
  and names as the Keras layer: checkpoints are interchangeable.
  """

  def call(self, inputs, training=False):
    # No autocast while the wrapper reads and writes its variables; the wrapped layer's
    # own call opens its compute-dtype scope again. keras.src: Keras 3 exports no public
    # way to read a variable uncast in a layer's autocast scope (keras<4 is pinned;
    # tests/test_mixed_precision_paths.py checks the values).
    with keras_backend.AutocastScope(None):
      return super().call(inputs, training=training)


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
