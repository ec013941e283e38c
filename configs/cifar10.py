"""CIFAR-10 (50,000 32x32 RGB images, 10 classes) with the DCGAN at 32x32x3.

Source: Radford et al. (2015) architecture and optimiser (Adam lr 2e-4 beta1 0.5,
batch 128, z 100); CIFAR-10 is the paper's feature-extraction benchmark, trained
here at its native 32x32 (no resizing). Epochs: 25 (DCGAN-tensorflow's default).
Data: TFDS cifar10.
"""

from dcgan_tf.config import Config


def get_config():
  return Config(dataset="cifar10", channels=3, log_every=100, sample_every=1000,
                checkpoint_every=1000)
