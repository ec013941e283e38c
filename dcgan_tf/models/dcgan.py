"""DCGAN generator and discriminator (Radford et al. 2015), 32/64/128 pixels.

G: z [B, latent] -> 4x4 (transposed conv k4 from 1x1) -> x2 per layer -> [B, S, S, C]
   tanh output in [-1, 1]; BN + ReLU on every layer but the output.
D: [B, S, S, C] in [-1, 1] -> strided k4 convs down to 4x4 -> 4x4 valid conv -> logit [B].
   LeakyReLU(0.2); BN on every layer but the first (and none with spectral_norm=True).
Channel widths follow the paper: at resolution r the width is filters * (S/2) / r,
so 64x64 gives 512-256-128-64 in G and 64-128-256-512 in D. 128x128 has six
transposed convs in G and six convs in D.
"""

import math

import keras
import tensorflow as tf
from keras import layers

from dcgan_tf import subpixel
from dcgan_tf.models.base import GeneratorBase


def weight_init(seed=None):
  return keras.initializers.RandomNormal(0.0, 0.02, seed=seed)


def batch_norm(name):
  # momentum 0.9 / epsilon 1e-5 are PyTorch's BatchNorm2d defaults, used by the reference.
  # Built under a multi-replica strategy, statistics are over the global batch (all-reduced
  # per call): N replicas then train like one device with the same global batch.
  synced = tf.distribute.get_strategy().num_replicas_in_sync > 1
  return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=name, synchronized=synced,
                                   gamma_initializer=keras.initializers.RandomNormal(1.0, 0.02))


def resolutions(image_size):
  """Hidden resolutions 4, 8, ..., image_size/2 (G's order)."""
  n = int(math.log2(image_size)) - 2
  if 2 ** (n + 2) != image_size or n < 1:
    raise ValueError(f"--image_size: must be a power of two >= 8, got {image_size}")
  return [4 * 2 ** i for i in range(n)]


class LabelEmbedding(layers.Layer):
  """int labels [B] in [0, num_classes) -> float [B, dim] (the conditional variant's label code).

  Rows start ~ N(0, 1), the scale of z in G and of pixels in D (PyTorch's
  nn.Embedding default): Keras' default U(-0.05, 0.05) would let the label start
  20x weaker than the noise, so G would at first ignore it.
  """

  def __init__(self, num_classes, dim, seed=None, **kw):
    super().__init__(**kw)
    self.embed = layers.Embedding(num_classes, dim, name="table",
                                  embeddings_initializer=keras.initializers.RandomNormal(
                                      0.0, 1.0, seed=seed))

  def call(self, labels):
    return self.embed(keras.ops.reshape(keras.ops.cast(labels, "int32"), [-1]))


class Generator(GeneratorBase):
  """z [B, latent_dim] (+ labels [B] when conditional) -> images float32 [B, S, S, C] in [-1, 1]."""

  def __init__(self, image_size=64, channels=3, latent_dim=100, filters=64,
               num_classes=0, embedding_dim=50, seed=None, **kw):
    super().__init__(**kw)
    self.image_size, self.channels, self.latent_dim = image_size, channels, latent_dim
    self.num_classes = num_classes
    self.label_embedding = (
        LabelEmbedding(num_classes, embedding_dim, seed=seed, name="label_embedding")
        if num_classes else None)
    self.blocks = []
    res = resolutions(image_size)
    for i, r in enumerate(res):
      width = filters * (image_size // 2) // r
      # The first layer maps the 1x1 code to 4x4 (k4 s1 valid); later ones double the size.
      # subpixel.Conv2DTranspose: Keras' layer (same weights), ~2x faster forward on CPU.
      conv = subpixel.Conv2DTranspose(width, 4, strides=1 if i == 0 else 2,
                                      padding="valid" if i == 0 else "same", use_bias=False,
                                      kernel_initializer=weight_init(seed), name=f"deconv{i}")
      self.blocks.append((conv, batch_norm(f"bn{i}"), layers.ReLU(name=f"relu{i}")))
    self.to_image = layers.Conv2DTranspose(channels, 4, strides=2, padding="same", use_bias=False,
                                           kernel_initializer=weight_init(seed),
                                           name=f"deconv{len(res)}")
    # tanh in float32 so mixed precision never changes the output range or dtype.
    self.tanh = layers.Activation("tanh", dtype="float32", name="tanh")

  def call(self, z, labels=None, training=False):
    h = z
    if self.label_embedding is not None:
      h = keras.ops.concatenate([keras.ops.cast(z, "float32"),
                                 keras.ops.cast(self.label_embedding(labels), "float32")], axis=-1)
    h = keras.ops.reshape(h, [-1, 1, 1, h.shape[-1]])
    for conv, bn, act in self.blocks:
      h = act(bn(conv(h), training=training))
    return self.tanh(self.to_image(h))


class Discriminator(keras.Model):
  """images [B, S, S, C] in [-1, 1] (+ labels [B] when conditional) -> logits float32 [B]."""

  def __init__(self, image_size=64, channels=3, filters=64, spectral_norm=False,
               num_classes=0, embedding_dim=50, seed=None, **kw):
    super().__init__(**kw)
    self.image_size, self.channels, self.num_classes = image_size, channels, num_classes
    self.label_embedding = (
        LabelEmbedding(num_classes, embedding_dim, seed=seed, name="label_embedding")
        if num_classes else None)

    def maybe_sn(layer):
      return layers.SpectralNormalization(layer, name="sn_" + layer.name) if spectral_norm else layer

    self.blocks = []
    for i, r in enumerate(reversed(resolutions(image_size))):
      width = filters * (image_size // 2) // r
      # subpixel.Conv2D: Keras' layer (same weights), faster input gradient on CPU.
      conv = maybe_sn(subpixel.Conv2D(width, 4, strides=2, padding="same", use_bias=spectral_norm,
                                      kernel_initializer=weight_init(seed), name=f"conv{i}"))
      # No BN on the input layer (paper), nor anywhere when spectral norm replaces it.
      bn = None if (i == 0 or spectral_norm) else batch_norm(f"bn{i}")
      self.blocks.append((conv, bn, layers.LeakyReLU(0.2, name=f"lrelu{i}")))
    # Logit layer in float32: the loss is computed from it in full precision.
    self.to_logit = maybe_sn(layers.Conv2D(1, 4, padding="valid", kernel_initializer=weight_init(seed),
                                           dtype="float32", name=f"conv{len(self.blocks)}"))

  def _inputs(self, images, labels):
    if self.label_embedding is None:
      return images
    code = self.label_embedding(labels)  # [B, E]
    s = self.image_size
    maps = keras.ops.broadcast_to(keras.ops.reshape(code, [-1, 1, 1, code.shape[-1]]),
                                  [keras.ops.shape(images)[0], s, s, code.shape[-1]])
    return keras.ops.concatenate([images, keras.ops.cast(maps, images.dtype)], axis=-1)

  def features(self, images, labels=None, training=False):
    """Activations after every conv block (for the DCGAN paper's SVM protocol)."""
    h, outs = self._inputs(images, labels), []
    for conv, bn, act in self.blocks:
      h = conv(h, training=training)  # SpectralNormalization only updates its estimate when training
      if bn is not None:
        h = bn(h, training=training)
      h = act(h)
      outs.append(h)
    return outs

  def call(self, images, labels=None, training=False):
    h = self.features(images, labels, training=training)[-1]
    return keras.ops.reshape(self.to_logit(h, training=training), [-1])
