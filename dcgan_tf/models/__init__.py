"""Generator/discriminator builders per variant. `build_models(config)` -> (G, D).

Variants (config.variant):
  gan     fully connected G and D (models/mlp.py, Goodfellow et al. 2014)
  dcgan   convolutional G and D with batch norm (models/dcgan.py, Radford et al. 2015)
  cdcgan  dcgan with a label embedding in G's input and D's input channels
  cdcgan_projection  dcgan with class-conditional batch norm in G and a projection D
          (spectral norm, no batch norm in D; Miyato & Koyama 2018)
  sngan   dcgan with spectral normalization on D's layers and no batch norm in D
Every network takes `(inputs, labels=None, training=False)`; unconditional ones
ignore the labels, so callers never branch on the variant. The builders read everything,
the class count too, from a Config whose class count is resolved (config.resolve_classes:
train/setup.py with the dataset's classes, Workdir.load_config for a trained run).
"""

import numpy as np

from dcgan_tf import devices
from dcgan_tf.config import CONDITIONAL_VARIANTS, VARIANTS, Config
from dcgan_tf.errors import UserError
from dcgan_tf.models import dcgan, mlp


def build_generator(config: Config):
  """G for `config.variant`, with weights created (a pure function of config.seed,
  models/init.py); a conditional G takes config.num_classes classes."""
  kw = dict(image_size=config.image_size, channels=config.channels, seed=config.seed,
            latent_dim=config.latent_dim, name="generator")
  if config.variant == "gan":
    g = mlp.Generator(units=config.mlp_units, **kw)
  elif config.variant in VARIANTS[1:]:
    g = dcgan.Generator(filters=config.gen_filters, num_classes=_classes(config),
                        embedding_dim=config.embedding_dim, subpixel_convs=_subpixel(config),
                        projection=config.variant == "cdcgan_projection", **kw)
  else:
    raise UserError(f"got {config.variant!r}; valid: {', '.join(VARIANTS)}", "variant")
  g(np.zeros([2, config.latent_dim], np.float32), np.zeros([2], np.int32))  # create weights
  return g


def build_discriminator(config: Config):
  """D for `config.variant`, with weights created (see build_generator)."""
  kw = dict(image_size=config.image_size, channels=config.channels, seed=config.seed,
            name="discriminator")
  if config.variant == "gan":
    d = mlp.Discriminator(units=config.mlp_units, pieces=config.maxout_pieces, **kw)
  elif config.variant in VARIANTS[1:]:
    d = dcgan.Discriminator(filters=config.disc_filters,
                            spectral_norm=config.variant in ("sngan", "cdcgan_projection"),
                            num_classes=_classes(config), embedding_dim=config.embedding_dim,
                            subpixel_convs=_subpixel(config),
                            projection=config.variant == "cdcgan_projection", **kw)
  else:
    raise UserError(f"got {config.variant!r}; valid: {', '.join(VARIANTS)}", "variant")
  s = config.image_size
  d(np.zeros([2, s, s, config.channels], np.float32), np.zeros([2], np.int32))
  return d


def build_models(config: Config):
  """(generator, discriminator) for `config.variant`, with weights created."""
  return build_generator(config), build_discriminator(config)


def copy_weights(source, target) -> None:
  """target's variables = source's (same architecture): weights, batch-norm statistics."""
  pairs = list(zip(source.variables, target.variables))
  if len(pairs) != len(target.variables) or len(pairs) != len(source.variables) or any(
      tuple(s.shape) != tuple(t.shape) for s, t in pairs):
    raise ValueError(f"copy_weights: {source.name} and {target.name} differ in architecture")
  for s, t in pairs:
    t.assign(s)


def float32_generator(generator, config: Config):
  """`generator` itself when it computes in float32, else G rebuilt under the float32
  policy with `generator`'s weights: exports and evaluations are float32 whatever the
  training policy (a float16 G differs by a grey level on some pixels). A rebuilt copy
  is a snapshot: copy_weights again after training changes `generator`."""
  if generator.dtype_policy.name == "float32":
    return generator
  with devices.dtype_policy("float32"):
    copy = build_generator(config)
  copy_weights(generator, copy)
  return copy


def _classes(config: Config) -> int:
  """config.num_classes, which config.resolve_classes set: > 0 for the conditional variant
  only. A config that skipped it would build networks of the wrong shape, silently."""
  if (config.num_classes > 0) != (config.variant in CONDITIONAL_VARIANTS):
    raise ValueError(f"num_classes={config.num_classes} with variant={config.variant!r}: "
                     "build from a config passed through config.resolve_classes")
  return config.num_classes


def _subpixel(config: Config) -> bool:
  return devices.resolve_conv_impl(config.conv_impl) == "subpixel"
