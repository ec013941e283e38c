"""LSUN church_outdoor at 128x128 (126,227 images), the DCGAN study's 128-pixel experiment.

Source: the DCGAN architecture of Radford et al. (2015) extended to 128x128 (six
transposed convs in G, six convs in D), trained with the paper's optimiser.
Settings: 128x128 RGB, batch 128, Adam lr 2e-4 beta1 0.5 (beta2
0.999) for both networks, 100 epochs, z 100, 64 feature maps.
Data: TFDS' lsun needs tensorflow-io (unusable with TF 2.21): place
church_outdoor_train_lmdb/ (or an exported image folder church_outdoor_train/) in
--manual_dir, or pass --dataset=folder:/your/church/images.
"""

from dcgan_tf.config import load_config_file


def get_config():
  # cache="none" from lsun_church: 126k decoded 128x128 images would need ~6 GiB of memory.
  return load_config_file("lsun_church").replace(epochs=100)
