"""Generator/discriminator shapes, ranges and the DCGAN paper's architecture rules."""

import numpy as np
import pytest
from keras import layers

from conftest import tiny
from dcgan_tf import config as config_lib
from dcgan_tf import models


@pytest.mark.parametrize("size", [32, 64, 128])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_and_ranges(size, channels):
  config = tiny(image_size=size, channels=channels)
  g, d = models.build_models(config)
  z = np.random.default_rng(0).normal(size=[3, config.latent_dim]).astype(np.float32) * 5
  images = g(z, training=False).numpy()  # labels=None: unconditional networks need none
  assert images.shape == (3, size, size, channels)
  assert images.dtype == np.float32
  assert images.min() >= -1.0 and images.max() <= 1.0  # tanh output
  logits = d(images, training=False).numpy()
  assert logits.shape == (3,) and np.all(np.isfinite(logits))


def _count(model, cls):
  return sum(isinstance(layer, cls) for layer in model._flatten_layers(include_self=False))


@pytest.mark.parametrize("size,expected", [(32, 4), (64, 5), (128, 6)])
def test_transposed_conv_counts(size, expected):
  g, d = models.build_models(tiny(image_size=size))
  assert _count(g, layers.Conv2DTranspose) == expected
  assert _count(d, layers.Conv2D) == expected  # D mirrors G, ending in the 4x4 logit conv


def test_paper_widths_at_64():
  g, d = models.build_models(tiny(image_size=64, channels=3, gen_filters=64, disc_filters=64,
                                  latent_dim=100))
  g_widths = [l.filters for l in g._flatten_layers() if isinstance(l, layers.Conv2DTranspose)]
  d_widths = [l.filters for l in d._flatten_layers() if isinstance(l, layers.Conv2D)]
  assert g_widths == [512, 256, 128, 64, 3]
  assert d_widths == [64, 128, 256, 512, 1]


def test_batchnorm_placement_and_init():
  g, d = models.build_models(tiny(image_size=64, gen_filters=64, disc_filters=64))
  g_bn = [l for l in g._flatten_layers() if isinstance(l, layers.BatchNormalization)]
  d_bn = [l for l in d._flatten_layers() if isinstance(l, layers.BatchNormalization)]
  assert len(g_bn) == 4  # every G layer but the output
  assert len(d_bn) == 3  # every D conv but the input layer and the logit
  gammas = np.concatenate([bn.gamma.numpy() for bn in g_bn])
  # Sampling, not rounding: 960 draws of N(1, 0.02) give a mean within 6.5e-4 (1 s.e.) and
  # a std within 2.3%; the bounds are 15 s.e. and 50% wide.
  assert abs(gammas.mean() - 1.0) < 0.01 and 0.01 < gammas.std() < 0.03
  kernels = np.concatenate([l.kernel.numpy().ravel() for l in g._flatten_layers()
                            if isinstance(l, layers.Conv2DTranspose)])
  # N(0, 0.02), 2.9e6 draws: mean within 1.2e-5 (1 s.e.), std within 0.04%; bounds >= 10%.
  assert abs(kernels.mean()) < 0.005 and 0.018 < kernels.std() < 0.022


def test_bad_image_size():
  from dcgan_tf.errors import UserError
  from dcgan_tf.models import dcgan
  with pytest.raises(UserError, match="image_size"):
    dcgan.resolutions(48)


def _initial_values(model):
  """(path, flat values) of every weight drawn at random: kernels, embeddings, BN gammas."""
  return [(v.path, v.numpy().ravel()) for v in model.trainable_variables
          if not v.path.endswith(("bias", "beta"))]


@pytest.mark.parametrize("variant", ["cdcgan", "gan"])
def test_every_layer_starts_from_its_own_random_values(variant):
  """At the paper's widths G's deconvs have D's conv shapes and both label embeddings one
  shape: one shared int seed made them equal, and gave every kernel the same first values."""
  config = tiny(variant=variant, image_size=64, channels=3, gen_filters=64, disc_filters=64,
                latent_dim=100, mlp_units=60, maxout_pieces=5)
  g, d = models.build_models(config_lib.resolve_classes(config, 10))
  values = _initial_values(g) + _initial_values(d)
  assert len(values) >= 5
  for i, (name_a, a) in enumerate(values):
    for name_b, b in values[i + 1:]:
      n = min(len(a), len(b), 32)
      assert not np.array_equal(a[:n], b[:n]), f"{name_a} and {name_b} start alike"


def test_the_seed_alone_decides_the_weights():
  import keras
  g1, d1 = models.build_models(tiny(seed=3))
  keras.utils.set_random_seed(12345)  # the global RNG state must not matter
  np.random.default_rng(0).normal(size=100)
  g2, d2 = models.build_models(tiny(seed=3))
  for a, b in zip(g1.weights + d1.weights, g2.weights + d2.weights):  # the same stateless
    np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)  # draws: bit for bit
  g3, d3 = models.build_models(tiny(seed=4))
  for (name, a), (_, b) in zip(_initial_values(g1) + _initial_values(d1),
                               _initial_values(g3) + _initial_values(d3)):
    assert not np.array_equal(a, b), f"{name} is the same under another --seed"
