"""Stanford Cars (16,185 car photos, 196 models) at 64x64x3 with the DCGAN.

Source: Radford et al. (2015) 64x64 DCGAN and optimiser (Adam lr 2e-4 beta1 0.5,
batch 128, z 100); shorter side resized, center crop (the cars are wide: the crop
keeps the middle of the car). Both TFDS splits (split "train+test"), 50 epochs
(~6,300 steps) as the set is small.
Data: TFDS cars196; labels are the 196 make/model/year classes.
"""

from dcgan_tf.config import Config


def get_config():
  return Config(dataset="cars", image_size=64, channels=3, split="train+test", epochs=50,
                log_every=100, sample_every=1000, checkpoint_every=1000)
