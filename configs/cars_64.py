"""Car photos (e.g. Stanford Cars' 16,185 images) at 64x64 from an image folder.

Source: Radford et al. (2015) DCGAN at 64x64 with the study's settings
(table): RGB 64x64, batch 128, Adam lr 2e-4 betas (0.5, 0.999) for both networks,
z 100, 64 feature maps (G 512-256-128-64, D 64-128-256-512), 100 epochs.
Data: an image folder (any layout). The path below is a placeholder: pass
--dataset=folder:/your/path/to/cars. (TFDS cars196 is --dataset=cars.)
DiffAugment: off, so the run reproduces the study's settings. With a few thousand
images D overfits late in training; add --augment=translation,cutout for better
samples (README, DiffAugment).
"""

from dcgan_tf.config import Config


def get_config():
  return Config(dataset="folder:data/cars", image_size=64, channels=3, epochs=100, log_every=100,
                sample_every=1000, checkpoint_every=1000)
