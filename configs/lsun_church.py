"""LSUN church_outdoor (126,227 scenes) at 128x128x3 with the DCGAN.

Source: Radford et al. (2015) optimiser (Adam lr 2e-4 beta1 0.5, batch 128, z 100),
the architecture extended to 128x128 (six transposed convs in G, six convs in D)
(the 128-pixel experiment); shorter side resized to 128, center crop. Epochs: 25
(DCGAN-tensorflow's default; the paper reports none for churches). No memory
cache: 126k prepared images need ~6 GiB; use --cache=PATH for a file cache.
Data: church_outdoor_train_lmdb/ (LSUN's LMDB export; pip install lmdb) or an
exported image folder church_outdoor_train/ in --manual_dir; TFDS lsun cannot be
built with TF 2.21 (it needs tensorflow-io).
"""

from dcgan_tf.config import Config


def get_config():
  return Config(dataset="lsun_church", image_size=128, channels=3, cache="none", log_every=100,
                sample_every=1000, checkpoint_every=1000)
