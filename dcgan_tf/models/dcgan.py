"""DCGAN generator and discriminator (Radford et al. 2015), 32/64/128 pixels.

G: z [B, latent] -> 4x4 (transposed conv k4 from 1x1) -> x2 per layer -> [B, S, S, C]
   tanh output in [-1, 1]; BN + ReLU on every layer but the output.
D: [B, S, S, C] in [-1, 1] -> strided k4 convs down to 4x4 -> 4x4 valid conv -> logit [B].
   LeakyReLU(0.2); BN on every layer but the first (and none with spectral_norm=True).
Channel widths follow the paper: at resolution r the width is filters * (S/2) / r,
so 64x64 gives 512-256-128-64 in G and 64-128-256-512 in D. 128x128 has six
transposed convs in G and six convs in D.

Every layer is a named attribute (G: up0.., to_image; D: down0.., to_logit), so a
checkpoint names each variable by its layer path (generator/up1/bn/moving_mean).
Conditional (num_classes > 0), two ways:
  - concatenation (cdcgan): a label embedding is concatenated with z in G and, broadcast to
    the image size, with the image channels in D;
  - projection (cdcgan_projection; Miyato & Koyama 2018): G's batch norms take per-class
    gain and bias (ConditionalBatchNorm), and D, spectral-normalised without batch norm,
    adds <embed(y), phi(x)> to its logit, phi(x) = its last features summed over space.
Both networks take `(inputs, labels=None, training=False)`; unconditional ones ignore the
labels.
"""

import math

import keras
from keras import layers

from dcgan_tf.errors import UserError
from dcgan_tf.models import subpixel
from dcgan_tf.models.base import GeneratorBase
from dcgan_tf.models.init import Seeds
from dcgan_tf.models.layers import (ConditionalBatchNorm, LabelEmbedding, SpectralNormalization,
                                    batch_norm)


def resolutions(image_size):
  """Hidden resolutions 4, 8, ..., image_size/2 (G's order)."""
  n = int(math.log2(image_size)) - 2
  if 2 ** (n + 2) != image_size or n < 1:
    raise UserError(f"must be a power of two >= 8, got {image_size}", "image_size")
  return [4 * 2 ** i for i in range(n)]


def width(filters, image_size, resolution):
  """Channels at a hidden resolution: filters at image_size/2, doubling per halving."""
  return filters * (image_size // 2) // resolution


class UpBlock(layers.Layer):
  """G's hidden layer: transposed conv k4 -> batch norm -> ReLU.

  The first block maps the 1x1 code to 4x4 (stride 1, "valid"); the others double
  the size (stride 2, "same"), where subpixel_convs picks models/subpixel.py's layer
  (Keras' layer and weights, a faster forward on CPUs).
  """

  def __init__(self, filters, first, seeds: Seeds, subpixel_convs=False, num_classes=0, **kw):
    super().__init__(**kw)
    conv = subpixel.Conv2DTranspose if subpixel_convs and not first else layers.Conv2DTranspose
    self.deconv = conv(filters, 4, strides=1 if first else 2, padding="valid" if first else "same",
                       use_bias=False, kernel_initializer=seeds.normal("deconv"), name="deconv")
    # num_classes > 0: class-conditional gain and bias (the projection variant's G).
    self.bn = (ConditionalBatchNorm(num_classes, seeds.child("cbn"), name="cbn") if num_classes
               else batch_norm("bn", seeds))
    self.relu = layers.ReLU(name="relu")

  def call(self, x, labels=None, training=False):
    h = self.deconv(x)
    if isinstance(self.bn, ConditionalBatchNorm):
      return self.relu(self.bn(h, labels, training=training))
    return self.relu(self.bn(h, training=training))


class DownBlock(layers.Layer):
  """D's hidden layer: conv k4 s2 -> batch norm (optional) -> LeakyReLU(0.2).

  spectral_norm wraps the conv in keras.layers.SpectralNormalization (and gets a
  bias, as batch norm no longer provides one; see models/layers.SpectralNormalization for
  mixed precision); subpixel_convs computes its input gradient the fast way on CPUs
  (models/subpixel.py).
  """

  def __init__(self, filters, seeds: Seeds, use_batch_norm=True, spectral_norm=False,
               subpixel_convs=False, **kw):
    super().__init__(**kw)
    conv_cls = subpixel.Conv2D if subpixel_convs else layers.Conv2D
    conv = conv_cls(filters, 4, strides=2, padding="same", use_bias=spectral_norm,
                    kernel_initializer=seeds.normal("conv"), name="conv")
    self.conv = SpectralNormalization(conv, name="sn") if spectral_norm else conv
    self.bn = batch_norm("bn", seeds) if use_batch_norm else None
    self.lrelu = layers.LeakyReLU(0.2, name="lrelu")

  def call(self, x, training=False):
    # SpectralNormalization only updates its power-iteration estimate when training.
    h = self.conv(x, training=training)
    if self.bn is not None:
      h = self.bn(h, training=training)
    return self.lrelu(h)


class Generator(GeneratorBase):
  """z [B, latent_dim] (+ labels [B] when conditional) -> images float32 [B, S, S, C] in [-1, 1]."""

  def __init__(self, image_size=64, channels=3, latent_dim=100, filters=64, num_classes=0,
               embedding_dim=50, seed=0, subpixel_convs=False, projection=False, **kw):
    super().__init__(**kw)
    self.image_size, self.channels, self.latent_dim = image_size, channels, latent_dim
    self.num_classes = num_classes
    seeds = Seeds(seed, self.name)
    # Labels enter through a z-side embedding (cdcgan) or every batch norm (projection).
    self.label_embedding = (LabelEmbedding(num_classes, embedding_dim, seeds.child("label_embedding"),
                                           name="label_embedding")
                            if num_classes and not projection else None)
    res = resolutions(image_size)
    self.block_names = tuple(f"up{i}" for i in range(len(res)))
    for i, (name, r) in enumerate(zip(self.block_names, res)):
      setattr(self, name, UpBlock(width(filters, image_size, r), i == 0, seeds.child(name),
                                  subpixel_convs, num_classes if projection else 0, name=name))
    # 3 or 1 output channels: four tiny interleaved convolutions would be slower here.
    self.to_image = layers.Conv2DTranspose(channels, 4, strides=2, padding="same", use_bias=False,
                                           kernel_initializer=seeds.normal("to_image"),
                                           name="to_image")
    # tanh in float32 so mixed precision never changes the output range or dtype.
    self.tanh = layers.Activation("tanh", dtype="float32", name="tanh")

  @property
  def blocks(self):
    return [getattr(self, name) for name in self.block_names]

  def call(self, z, labels=None, training=False):
    h = z
    if self.label_embedding is not None:
      h = keras.ops.concatenate([keras.ops.cast(z, "float32"),
                                 keras.ops.cast(self.label_embedding(labels), "float32")], axis=-1)
    h = keras.ops.reshape(h, [-1, 1, 1, h.shape[-1]])
    for block in self.blocks:
      h = block(h, labels, training=training)
    return self.tanh(self.to_image(h))


class Discriminator(keras.Model):
  """images [B, S, S, C] in [-1, 1] (+ labels [B] when conditional) -> logits float32 [B]."""

  def __init__(self, image_size=64, channels=3, filters=64, spectral_norm=False, num_classes=0,
               embedding_dim=50, seed=0, subpixel_convs=False, projection=False, **kw):
    super().__init__(**kw)
    self.image_size, self.channels, self.num_classes = image_size, channels, num_classes
    seeds = Seeds(seed, self.name)
    self.label_embedding = (LabelEmbedding(num_classes, embedding_dim, seeds.child("label_embedding"),
                                           name="label_embedding")
                            if num_classes and not projection else None)
    res = list(reversed(resolutions(image_size)))
    self.block_names = tuple(f"down{i}" for i in range(len(res)))
    for i, (name, r) in enumerate(zip(self.block_names, res)):
      # No BN on the input layer (paper), nor anywhere when spectral norm replaces it.
      setattr(self, name, DownBlock(width(filters, image_size, r), seeds.child(name),
                                    use_batch_norm=i > 0 and not spectral_norm,
                                    spectral_norm=spectral_norm, subpixel_convs=subpixel_convs,
                                    name=name))
    # Logit layer in float32: the loss is computed from it in full precision.
    to_logit = layers.Conv2D(1, 4, padding="valid", kernel_initializer=seeds.normal("to_logit"),
                             dtype="float32", name="to_logit")
    self.to_logit = (SpectralNormalization(to_logit, dtype="float32", name="sn_to_logit")
                     if spectral_norm else to_logit)
    # Projection: the class embedding V [classes, C] as a bias-free Dense on one-hot labels,
    # spectral-normalised like the paper's (Keras' wrapper would cast an Embedding's output
    # to the labels' integer dtype). float32, as the logit it is added to.
    self.embed = None
    if num_classes and projection:
      embed = layers.Dense(width(filters, image_size, 4), use_bias=False, dtype="float32",
                           kernel_initializer=seeds.normal("embed"), name="embed")
      self.embed = (SpectralNormalization(embed, dtype="float32", name="sn_embed")
                    if spectral_norm else embed)

  @property
  def blocks(self):
    return [getattr(self, name) for name in self.block_names]

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
    for block in self.blocks:
      h = block(h, training=training)
      outs.append(h)
    return outs

  def call(self, images, labels=None, training=False):
    h = self.features(images, labels, training=training)[-1]
    logits = keras.ops.reshape(self.to_logit(h, training=training), [-1])
    if self.embed is None:
      return logits
    return logits + self.projection(h, labels, training=training)

  def projection(self, features, labels, training=False):
    """<V[y], phi> float32 [B]: phi = the last block's features summed over space [B, C]."""
    phi = keras.ops.sum(keras.ops.cast(features, "float32"), axis=[1, 2])
    one_hot = keras.ops.one_hot(keras.ops.reshape(labels, [-1]), self.num_classes)
    return keras.ops.sum(self.embed(one_hot, training=training) * phi, axis=-1)
