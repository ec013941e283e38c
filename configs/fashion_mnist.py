"""Fashion-MNIST (60,000 clothing images, 10 classes) at 32x32x1 with the DCGAN.

Source: Radford et al. (2015) settings as for MNIST (configs/mnist.py): Adam lr
2e-4 beta1 0.5, batch 128, z 100; Fashion-MNIST is a drop-in MNIST replacement
(Xiao et al. 2017), so it gets MNIST's 32x32 and 25 epochs.
Data: the IDX .gz files in --data_dir, or Debian's dataset-fashion-mnist
(/usr/share/datasets/fashion-mnist), else TFDS fashion_mnist.
"""

from dcgan_tf.config import Config


def get_config():
  return Config(dataset="fashion_mnist", log_every=100, sample_every=1000, checkpoint_every=1000)
