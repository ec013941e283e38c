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

from dcgan_tf.errors import UserError
from dcgan_tf.models.base import GeneratorBase
from dcgan_tf.models.init import Seeds
from dcgan_tf.models.layers import Maxout


class Generator(GeneratorBase):
  """z [B, latent_dim] -> images float32 [B, S, S, C] in [-1, 1] (tanh); labels are ignored."""

  def __init__(self, image_size=32, channels=1, latent_dim=100, units=1200, seed=0, **kw):
    super().__init__(**kw)
    self.image_size, self.channels, self.latent_dim = image_size, channels, latent_dim
    self.num_classes = 0  # unconditional
    seeds = Seeds(seed, self.name)
    self.fc0 = layers.Dense(units, activation="relu", kernel_initializer=seeds.uniform("fc0", 0.05),
                            name="fc0")
    self.fc1 = layers.Dense(units, activation="relu", kernel_initializer=seeds.uniform("fc1", 0.05),
                            name="fc1")
    # Output layer and tanh in float32 so mixed precision never changes the output range.
    self.to_pixels = layers.Dense(image_size * image_size * channels, dtype="float32",
                                  kernel_initializer=seeds.uniform("to_pixels", 0.05),
                                  name="to_pixels")
    self.tanh = layers.Activation("tanh", dtype="float32", name="tanh")

  def call(self, z, labels=None, training=False):
    del labels  # unconditional: one calling convention for every generator
    h = self.tanh(self.to_pixels(self.fc1(self.fc0(z))))
    return keras.ops.reshape(h, [-1, self.image_size, self.image_size, self.channels])


class Discriminator(keras.Model):
  """images [B, S, S, C] in [-1, 1] -> logits float32 [B]; labels are ignored. Dropout is
  active only in training."""

  def __init__(self, image_size=32, channels=1, units=1200, pieces=5, seed=0, **kw):
    super().__init__(**kw)
    if units % pieces:
      raise UserError(f"must be a multiple of maxout_pieces={pieces}, got {units}", "mlp_units")
    self.image_size, self.channels, self.num_classes = image_size, channels, 0
    seeds = Seeds(seed, self.name)
    self.flatten = layers.Flatten(name="flatten")
    # Each dropout layer draws its own masks (its own seed).
    self.drop0 = layers.Dropout(0.2, seed=seeds("drop0"), name="drop0")
    self.maxout0 = Maxout(units // pieces, pieces, seeds.uniform("maxout0", 0.005), name="maxout0")
    self.drop1 = layers.Dropout(0.5, seed=seeds("drop1"), name="drop1")
    self.maxout1 = Maxout(units // pieces, pieces, seeds.uniform("maxout1", 0.005), name="maxout1")
    self.drop2 = layers.Dropout(0.5, seed=seeds("drop2"), name="drop2")
    self.to_logit = layers.Dense(1, kernel_initializer=seeds.uniform("to_logit", 0.005),
                                 dtype="float32", name="to_logit")

  def features(self, images, labels=None, training=False):
    """Activations [B, units / pieces] after each maxout layer (labels unused)."""
    h0 = self.maxout0(self.drop0(self.flatten(images), training=training))
    h1 = self.maxout1(self.drop1(h0, training=training))
    return [h0, h1]

  def call(self, images, labels=None, training=False):
    h = self.features(images, training=training)[-1]
    return keras.ops.reshape(self.to_logit(self.drop2(h, training=training)), [-1])
