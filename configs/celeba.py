"""Aligned CelebA faces (202,599 images, 178x218) at 64x64x3 with the DCGAN.

Source: Radford et al. (2015) 64x64 DCGAN and optimiser (Adam lr 2e-4 beta1 0.5,
batch 128, z 100). Preprocessing: the DCGAN-tensorflow convention for CelebA, the
central 108x108 crop (rows 55-162, columns 35-142) resized to 64x64; no flips.
Epochs: 25 (DCGAN-tensorflow's default). All images (split "all") are used, as
the extracted folder has them all.
Data: an extracted img_align_celeba/ folder in --manual_dir or --data_dir (or
--dataset=folder:PATH with --center_crop=108), else TFDS celeb_a, whose Google
Drive download often fails.
"""

from dcgan_tf.config import Config


def get_config():
  return Config(dataset="celeba", image_size=64, channels=3, center_crop=108, split="all",
                log_every=100, sample_every=1000, checkpoint_every=1000)
