"""Generator/discriminator builders per variant. `build_models(config)` -> (G, D)."""

from dcgan_tf.config import Config
from dcgan_tf.models import dcgan


def conditional_classes(config: Config, dataset_classes: int = 0) -> int:
  """Label classes the networks take: 0 unless conditional; unlabelled data is one class."""
  if config.variant != "cdcgan":
    return 0
  return config.num_classes or dataset_classes or 1


def build_models(config: Config, num_classes: int = 0):
  """Builds (generator, discriminator) for `config.variant`, with weights created.

  num_classes: classes of the conditional variant (ignored by the others).
  """
  kw = dict(image_size=config.image_size, channels=config.channels, seed=config.seed)
  n = conditional_classes(config, num_classes)
  if config.variant in ("dcgan", "sngan", "cdcgan"):
    g = dcgan.Generator(latent_dim=config.latent_dim, filters=config.gen_filters,
                        num_classes=n, embedding_dim=config.embedding_dim, name="generator", **kw)
    d = dcgan.Discriminator(filters=config.disc_filters, spectral_norm=config.variant == "sngan",
                            num_classes=n, embedding_dim=config.embedding_dim,
                            name="discriminator", **kw)
  else:
    raise ValueError(f"--variant: {config.variant!r} is not built yet")
  build(g, d, config.latent_dim, config.image_size, config.channels, n)
  return g, d


def build(g, d, latent_dim, image_size, channels, num_classes):
  """Creates the weights by calling both networks once on a batch of 2."""
  import numpy as np
  z = np.zeros([2, latent_dim], np.float32)
  x = np.zeros([2, image_size, image_size, channels], np.float32)
  labels = np.zeros([2], np.int32) if num_classes else None
  g(z, labels) if num_classes else g(z)
  d(x, labels) if num_classes else d(x)
