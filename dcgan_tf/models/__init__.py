"""Generator/discriminator builders per variant. `build_models(config)` -> (G, D).

Variants (config.variant):
  gan     fully connected G and D (models/mlp.py, Goodfellow et al. 2014)
  dcgan   convolutional G and D with batch norm (models/dcgan.py, Radford et al. 2015)
  cdcgan  dcgan with a label embedding in G's input and D's input channels
  sngan   dcgan with spectral normalization on D's layers and no batch norm in D
Every network takes `(inputs, labels=None, training=False)`; unconditional ones
ignore the labels, so callers never branch on the variant.
"""

import numpy as np

from dcgan_tf import devices
from dcgan_tf.config import VARIANTS, Config
from dcgan_tf.errors import UserError
from dcgan_tf.models import dcgan, mlp


def conditional_classes(config: Config, dataset_classes: int = 0) -> int:
  """Label classes the networks take: 0 unless conditional; unlabelled data is one class.

  dataset_classes: classes the dataset's labels come from (0 = unlabelled, labels all 0).
  Raises UserError when --num_classes contradicts a labelled dataset: an embedding
  smaller than the label range fails at the first step, a larger one wastes rows.
  """
  if config.variant != "cdcgan":
    return 0
  if config.num_classes and dataset_classes and config.num_classes != dataset_classes:
    raise UserError(f"--num_classes: {config.num_classes} does not match the {dataset_classes} "
                    f"classes of --dataset={config.dataset}; set --num_classes={dataset_classes} "
                    "or 0 (take it from the dataset)")
  return config.num_classes or dataset_classes or 1


def build_generator(config: Config, num_classes: int = 0):
  """G for `config.variant`, with weights created (a pure function of config.seed,
  models/init.py). num_classes: classes of the conditional variant (others ignore it)."""
  n = conditional_classes(config, num_classes)
  kw = dict(image_size=config.image_size, channels=config.channels, seed=config.seed,
            latent_dim=config.latent_dim, name="generator")
  if config.variant == "gan":
    g = mlp.Generator(units=config.mlp_units, **kw)
  elif config.variant in ("dcgan", "cdcgan", "sngan"):
    g = dcgan.Generator(filters=config.gen_filters, num_classes=n,
                        embedding_dim=config.embedding_dim,
                        subpixel_convs=_subpixel(config), **kw)
  else:
    raise UserError(f"--variant: got {config.variant!r}; valid: {', '.join(VARIANTS)}")
  g(np.zeros([2, config.latent_dim], np.float32), np.zeros([2], np.int32))  # create weights
  return g


def build_discriminator(config: Config, num_classes: int = 0):
  """D for `config.variant`, with weights created (see build_generator)."""
  n = conditional_classes(config, num_classes)
  kw = dict(image_size=config.image_size, channels=config.channels, seed=config.seed,
            name="discriminator")
  if config.variant == "gan":
    d = mlp.Discriminator(units=config.mlp_units, pieces=config.maxout_pieces, **kw)
  elif config.variant in ("dcgan", "cdcgan", "sngan"):
    d = dcgan.Discriminator(filters=config.disc_filters, spectral_norm=config.variant == "sngan",
                            num_classes=n, embedding_dim=config.embedding_dim,
                            subpixel_convs=_subpixel(config), **kw)
  else:
    raise UserError(f"--variant: got {config.variant!r}; valid: {', '.join(VARIANTS)}")
  s = config.image_size
  d(np.zeros([2, s, s, config.channels], np.float32), np.zeros([2], np.int32))
  return d


def build_models(config: Config, num_classes: int = 0):
  """(generator, discriminator) for `config.variant`, with weights created."""
  return build_generator(config, num_classes), build_discriminator(config, num_classes)


def copy_weights(source, target) -> None:
  """target's variables = source's (same architecture): weights, batch-norm statistics."""
  pairs = list(zip(source.variables, target.variables))
  if len(pairs) != len(target.variables) or len(pairs) != len(source.variables) or any(
      tuple(s.shape) != tuple(t.shape) for s, t in pairs):
    raise ValueError(f"copy_weights: {source.name} and {target.name} differ in architecture")
  for s, t in pairs:
    t.assign(s)


def float32_generator(generator, config: Config, num_classes: int = 0):
  """`generator` itself when it computes in float32, else G rebuilt under the float32
  policy with `generator`'s weights: exports and evaluations are float32 whatever the
  training policy (a float16 G differs by a grey level on some pixels). A rebuilt copy
  is a snapshot: copy_weights again after training changes `generator`."""
  if generator.dtype_policy.name == "float32":
    return generator
  with devices.dtype_policy("float32"):
    copy = build_generator(config, num_classes)
  copy_weights(generator, copy)
  return copy


def _subpixel(config: Config) -> bool:
  return devices.resolve_conv_impl(config.conv_impl) == "subpixel"
