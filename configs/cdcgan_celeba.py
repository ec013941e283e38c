"""Conditional DCGAN on CelebA faces as ONE class (unlabelled data).

Source: the conditional-DCGAN study: 1 class, label embedding 1,
3 channels, z 100, no reconstruction term (weight 0), batch 256, 64 feature maps,
64x64 images.
Not in the table: Adam lr 2e-4 beta1 0.5 for both networks (the DCGAN paper's);
epochs: the trainer's default (25); the 108x108 center crop before resizing is the
usual DCGAN convention for aligned CelebA.
Data: an img_align_celeba/ folder in --manual_dir, TFDS celeb_a, or
--dataset=folder:/your/img_align_celeba.
"""

from dcgan_tf.config import Config


def get_config():
  return Config(dataset="celeba", image_size=64, channels=3, center_crop=108, variant="cdcgan",
                num_classes=1, embedding_dim=1, batch_size=256, log_every=100, sample_every=1000,
                checkpoint_every=1000)
