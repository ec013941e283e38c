"""Oxford-IIIT Pet (7,349 cat and dog photos, 37 breeds) at 64x64x3 with the DCGAN.

Source: Radford et al. (2015) 64x64 DCGAN and optimiser (Adam lr 2e-4 beta1 0.5,
batch 128, z 100); shorter side resized, center crop. Both TFDS splits are used
(split "train+test"): a GAN has no use for a held-out set, and the set is small,
so 100 epochs (~5,700 steps) instead of 25.
Data: TFDS oxford_iiit_pet; labels are the 37 breeds.
"""

from dcgan_tf.config import Config


def get_config():
  return Config(dataset="pets", image_size=64, channels=3, split="train+test", epochs=100,
                log_every=100, sample_every=1000, checkpoint_every=1000)
