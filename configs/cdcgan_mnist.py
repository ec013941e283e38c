"""Conditional DCGAN on MNIST digits, one class per digit.

Source: the conditional-DCGAN study: 10 classes, label embedding 5,
1 channel, z 20, reconstruction weight 5 (G's loss += 5 * |x - G(z, y)|), batch 256,
64 feature maps, 64x64 images, MNIST augmented with random rotation (up to 30
degrees) and a 4-pixel padded random crop.
Not in the table, so the DCGAN paper's: Adam lr 2e-4 beta1 0.5 for both networks;
epochs: the trainer's default (25).
Data: TFDS mnist, or MNIST's IDX .gz files in --data_dir.
"""

from dcgan_tf.config import Config


def get_config():
  return Config(dataset="mnist", image_size=64, mnist_augment=True, variant="cdcgan", latent_dim=20,
                num_classes=10, embedding_dim=5, recon_weight=5.0, batch_size=256, log_every=100,
                sample_every=1000, checkpoint_every=1000)
