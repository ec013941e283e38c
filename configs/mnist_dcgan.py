"""MNIST with the DCGAN: the convolutional side of the GAN-vs-DCGAN comparison.

Source: Radford et al. (2015) architecture and optimiser (Adam lr 2e-4 beta1 0.5,
batch 128, z 100, 64 feature maps, batch norm, weights N(0, 0.02)), 50 epochs
at 32x32x1 (MNIST's 28x28 resized) like mnist_gan.py.
Data: TFDS mnist, or MNIST's IDX .gz files in --data_dir.
"""

from dcgan_tf.config import Config


def get_config():
  return Config(dataset="mnist", epochs=50, log_every=200, sample_every=2000, checkpoint_every=2000)
