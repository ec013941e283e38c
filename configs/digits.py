"""Default experiment: scikit-learn's bundled 8x8 digits upsampled to 32x32x1 (no network).

DCGAN architecture and optimiser of Radford et al. (2015) (Adam 2e-4, beta1 0.5),
at half width (32 filters) and batch 64 so it trains to recognisable digits in a
few minutes on a 2-core CPU.
"""

from dcgan_tf.config import Config


def get_config():
  return Config(gen_filters=32, disc_filters=32, batch_size=64, train_steps=1500, log_every=100)
