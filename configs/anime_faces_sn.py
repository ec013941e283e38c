"""Anime faces at 64x64, SN-GAN: anime_faces.py with spectral normalization in D.

Source: DCGAN on 64x64 anime faces (e.g. the Kaggle anime-face crops) with Adam for
both networks: Adam lr 2e-4 betas (0.5, 0.999), the DCGAN paper's,
batch 128, z 100, 64 feature maps, 64x64 RGB. Epochs are not in the table: the
trainer's default (25).
Spectral normalization (Miyato et al. 2018) on every D layer in place of D's batch
norm; this optimiser is their setting C (lr 2e-4, betas (0.5, 0.999), one D step).
Data: an image folder. The path below is a placeholder: pass
--dataset=folder:/your/path/to/anime_faces.
DiffAugment: off, so the run reproduces the study's settings. With a few thousand
images D overfits late in training; add --augment=translation,cutout for better
samples (README, DiffAugment).
"""

from dcgan_tf.config import load_config_file


def get_config():
  return load_config_file("anime_faces").replace(variant="sngan")
