"""Generator/discriminator shapes, ranges and the DCGAN paper's architecture rules."""

import numpy as np
import pytest
from keras import layers

from conftest import tiny
from dcgan_tf import models


@pytest.mark.parametrize("size", [32, 64, 128])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_and_ranges(size, channels):
  config = tiny(image_size=size, channels=channels)
  g, d = models.build_models(config)
  z = np.random.default_rng(0).normal(size=[3, config.latent_dim]).astype(np.float32) * 5
  images = g(z, training=False).numpy()
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
  assert abs(gammas.mean() - 1.0) < 0.01 and 0.01 < gammas.std() < 0.03
  kernels = np.concatenate([l.kernel.numpy().ravel() for l in g._flatten_layers()
                            if isinstance(l, layers.Conv2DTranspose)])
  assert abs(kernels.mean()) < 0.005 and 0.018 < kernels.std() < 0.022  # N(0, 0.02)


def test_bad_image_size():
  from dcgan_tf.models import dcgan
  with pytest.raises(ValueError, match="image_size"):
    dcgan.resolutions(48)
