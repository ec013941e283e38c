"""MNIST (60,000 handwritten digits, 10 classes) at 32x32x1 with the DCGAN.

Source: Radford et al. (2015): architecture, Adam lr 2e-4 beta1 0.5, batch 128,
z 100, images in [-1, 1] (Config defaults); the 28x28 digits are resized to 32x32
(the smallest DCGAN size, 3 transposed convs). Epochs: 25, the default of the
widely used DCGAN-tensorflow reference code (the paper gives none for MNIST).
Data: MNIST's IDX .gz files in --data_dir (or /usr/share/datasets/mnist),
else TFDS mnist.
"""

from dcgan_tf.config import Config


def get_config():
  return Config(dataset="mnist", log_every=100, sample_every=1000, checkpoint_every=1000)
