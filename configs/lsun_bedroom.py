"""LSUN bedroom (3,033,042 scenes) at 64x64x3: the DCGAN paper's main experiment.

Source: Radford et al. (2015), section 4.1: 64x64 DCGAN, Adam lr 2e-4 beta1 0.5,
batch 128, z 100, shorter side resized and center-cropped, no augmentation; the
paper shows samples after one epoch (and five), so epochs=1. No memory cache
(~37 GiB at 64x64): use --cache=PATH for a file cache on a fast disk.
Data: bedroom_train_lmdb/ (LSUN's LMDB export; pip install lmdb) or an exported
image folder bedroom_train/ in --manual_dir; TFDS lsun cannot be built with TF 2.21
(it needs tensorflow-io).
"""

from dcgan_tf.config import Config


def get_config():
  return Config(dataset="lsun_bedroom", image_size=64, channels=3, cache="none", epochs=1,
                log_every=100, sample_every=1000, checkpoint_every=1000)
