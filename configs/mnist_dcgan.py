"""MNIST with the DCGAN: the convolutional side of the GAN-vs-DCGAN comparison.

Source: Radford et al. (2015) architecture and optimiser (Adam lr 2e-4 beta1 0.5,
batch 128, z 100, 64 feature maps, batch norm, weights N(0, 0.02)), 50 epochs
(issue 4 table), at 32x32x1 (MNIST's 28x28 resized) like mnist_gan.py.
Data: TFDS mnist, or MNIST's IDX .gz files in --data_dir.
"""

from dcgan_tf.config import Config


def get_config():
  return Config(dataset="mnist", image_size=32, channels=1, variant="dcgan", latent_dim=100,
                gen_filters=64, disc_filters=64, batch_size=128, epochs=50,
                g_optimizer="adam", d_optimizer="adam", g_lr=2e-4, d_lr=2e-4, beta_1=0.5,
                beta_2=0.999, log_every=200, sample_every=2000, checkpoint_every=2000)
