"""The fully connected GAN of Goodfellow et al. (2014): MLP G and D, no convolutions.

Architecture of the paper's MNIST experiment (goodfeli/adversarial, mnist.yaml):
G: z [B, latent] -> Dense(units) ReLU -> Dense(units) ReLU -> Dense(S*S*C) -> [B, S, S, C].
   The original ends in a sigmoid (pixels in [0, 1]); this trainer's images are in
   [-1, 1], so G ends in tanh = 2 * sigmoid(2x) - 1, the same function rescaled.
   Weights ~ U(-0.05, 0.05), as the original.
D: [B, S, S, C] -> flatten -> dropout 0.2 -> maxout(units/pieces x pieces) -> dropout 0.5
   -> maxout(units/pieces x pieces) -> dropout 0.5 -> Dense(1) logit [B].
   The original's D is maxout 240 units x 5 pieces with dropout (inputs of the first
   layer kept with p 0.8, of later layers with p 0.5): units=1200, pieces=5 reproduce it.
   Keras' Dropout rescales by 1/keep (1.25 and 2), as pylearn2's input scales did.
   Weights ~ U(-0.005, 0.005), as the original.
Neither network has batch norm, so the GAN calls D once on real and fake together.
Deviation: z is N(0, 1) here (the original drew U(-1, 1) noise), so every variant and
the exported `generate` signature share one noise distribution.
"""

import keras
from keras import layers

from dcgan_tf.models.base import GeneratorBase


def _uniform(scale, seed):
  return keras.initializers.RandomUniform(-scale, scale, seed=seed)


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


class Generator(GeneratorBase):
  """z [B, latent_dim] -> images float32 [B, S, S, C] in [-1, 1] (tanh)."""

  def __init__(self, image_size=32, channels=1, latent_dim=100, units=1200, seed=None, **kw):
    super().__init__(**kw)
    self.image_size, self.channels, self.latent_dim = image_size, channels, latent_dim
    self.num_classes = 0  # unconditional
    init = _uniform(0.05, seed)
    self.hidden = [layers.Dense(units, activation="relu", kernel_initializer=init, name=f"fc{i}")
                   for i in range(2)]
    # Output layer and tanh in float32 so mixed precision never changes the output range.
    self.to_pixels = layers.Dense(image_size * image_size * channels, kernel_initializer=init,
                                  dtype="float32", name="fc2")
    self.tanh = layers.Activation("tanh", dtype="float32", name="tanh")

  def call(self, z, training=False):
    h = z
    for dense in self.hidden:
      h = dense(h)
    h = self.tanh(self.to_pixels(h))
    return keras.ops.reshape(h, [-1, self.image_size, self.image_size, self.channels])


class Discriminator(keras.Model):
  """images [B, S, S, C] in [-1, 1] -> logits float32 [B]. Dropout is active only in training."""

  def __init__(self, image_size=32, channels=1, units=1200, pieces=5, seed=None, **kw):
    super().__init__(**kw)
    if units % pieces:
      raise ValueError(f"--mlp_units: must be a multiple of --maxout_pieces={pieces}, got {units}")
    self.image_size, self.channels, self.num_classes = image_size, channels, 0
    init = _uniform(0.005, seed)
    self.flatten = layers.Flatten(name="flatten")
    # Dropout seeds differ per layer so their masks are independent.
    self.blocks = [(layers.Dropout(0.2 if i == 0 else 0.5, seed=None if seed is None else seed + i,
                                   name=f"drop{i}"),
                    Maxout(units // pieces, pieces, kernel_initializer=init, name=f"maxout{i}"))
                   for i in range(2)]
    self.drop_out = layers.Dropout(0.5, seed=None if seed is None else seed + 2, name="drop2")
    self.to_logit = layers.Dense(1, kernel_initializer=init, dtype="float32", name="logit")

  def features(self, images, labels=None, training=False):
    """Activations [B, units / pieces] after each maxout layer (labels unused)."""
    h, outs = self.flatten(images), []
    for drop, maxout in self.blocks:
      h = maxout(drop(h, training=training))
      outs.append(h)
    return outs

  def call(self, images, training=False):
    h = self.features(images, training=training)[-1]
    return keras.ops.reshape(self.to_logit(self.drop_out(h, training=training)), [-1])
