"""Conditional DCGAN on animal faces: three classes (e.g. AFHQ's cat / dog / wild).

Source: the conditional-DCGAN study: 3 classes, label embedding 5,
3 channels, z 100, reconstruction weight 5, batch 64, 96 feature maps, 64x64 images.
Not in the table, so the DCGAN paper's: Adam lr 2e-4 beta1 0.5 for both networks;
epochs: the trainer's default (25).
Data: an image folder with one sub-folder per class (labels are the sub-folder
names in sorted order); the path below is a placeholder: pass
--dataset=folder:/your/path/to/animal_faces.
DiffAugment: off, so the run reproduces the study's settings. With a few thousand
images D overfits late in training; add --augment=translation,cutout for better
samples (README, DiffAugment).
"""

from dcgan_tf.config import Config


def get_config():
  return Config(dataset="folder:data/animal_faces", image_size=64, channels=3, variant="cdcgan",
                gen_filters=96, disc_filters=96, num_classes=3, embedding_dim=5, recon_weight=5.0,
                batch_size=64, log_every=100, sample_every=1000, checkpoint_every=1000)
