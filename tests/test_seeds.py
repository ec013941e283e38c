"""seeds.py: every random stream comes from derive(seed, purpose, *words), and no two
purposes share one: the derived seeds differ, and so do the first draws of the streams the
sites actually draw (no z row of one stream is a row of another)."""

import numpy as np
import pytest
import tensorflow as tf

from conftest import tiny
from dcgan_tf import seeds

SEEDS = (0, 1, 7, 12345, 2 ** 32 - 1)  # --seed's valid range [0, 2**32) ends and between


def _rows(z):
  """The rows of a float32 [N, D] array as a set of bytes."""
  z = np.ascontiguousarray(np.asarray(z, np.float32))
  return {row.tobytes() for row in z}


def test_derive_is_deterministic_in_range_and_checked():
  for seed in SEEDS:
    for purpose in seeds.PURPOSES:
      value = seeds.derive(seed, purpose, 3, "generator/up1/deconv")
      assert isinstance(value, int) and 0 <= value < 2 ** 31
      assert value == seeds.derive(seed, purpose, 3, "generator/up1/deconv")
  # numpy ints (steps read from TF, np.int64 seeds) are the same words as Python ints
  assert seeds.derive(np.int64(5), "data_order", np.int64(500)) == seeds.derive(5, "data_order",
                                                                                500)
  with pytest.raises(ValueError, match="unknown random stream 'noise'"):
    seeds.derive(0, "noise")
  with pytest.raises(ValueError, match="newline"):
    seeds.derive(0, "layers", "generator\nup1")


def test_every_seed_purpose_and_word_derives_its_own_seed():
  derived = [seeds.derive(seed, purpose) for seed in SEEDS for purpose in seeds.PURPOSES]
  assert len(set(derived)) == len(derived) == len(SEEDS) * len(seeds.PURPOSES)
  # Words split one purpose: every (step, rollbacks, input pipeline) of a run's data order.
  data = [seeds.derive(7, "data_order", step, rollbacks, pipeline)
          for step in (0, 1, 500) for rollbacks in (0, 1) for pipeline in (0, 1)]
  assert len(set(data)) == len(data) == 12
  # The parts are joined unambiguously: (1, 2) is not 12, nor seed 1 with word 2 seed 12.
  assert seeds.derive(0, "layers", 1, 2) != seeds.derive(0, "layers", 12)
  assert seeds.derive(1, "layers", 2) != seeds.derive(12, "layers")


def _gan(config):
  from dcgan_tf import models
  from dcgan_tf.gan import GAN
  return GAN(*models.build_models(config), config.latent_dim, seed=config.seed)


def _z_streams(config, rows=256):
  """{name: first z rows} of every z stream as its site draws it, at --seed = config.seed
  and request seed S = config.seed."""
  from dcgan_tf import inference
  from dcgan_tf.export import signatures
  from dcgan_tf.train import build, ema
  gan, dim, seed = _gan(config), config.latent_dim, config.seed
  return {
      "train_noise draw 0": gan._noise(rows, 0),
      "train_noise draw 1": gan._noise(rows, 1),
      "grid_noise": build.fixed_noise(config),
      "ema_statistics": ema.statistics_inputs(rows, dim, 0, seed)[0],
      "sample_noise": inference.latent(rows, dim, seed),  # sample, evaluate, generate
      "export_inputs": signatures.example_inputs("serving_default", dim, 0, rows)["z"],
  }


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_no_two_z_streams_share_a_row(seed):
  config = tiny(seed=seed)
  streams = {name: _rows(z) for name, z in _z_streams(config).items()}
  for name, rows in streams.items():
    others = set().union(*(r for n, r in streams.items() if n != name))
    assert not rows & others, f"{name} shares rows with another stream at seed {seed}"
  # DiffAugment's stateless seeds are not the noise's, for any draw.
  gan = _gan(config)
  keys = {tuple(gan._step_seed(stream, draw).numpy()) for stream in (gan.noise_seed,
                                                                      gan.augment_seed)
          for draw in (-1, 0, 1)}
  assert len(keys) == 6


def test_labels_have_their_own_stream():
  """Evaluation's fake labels and the EMA statistics' labels: neither is the other nor a
  function of the z stream's seed (the old derivation drew labels from seed + 7919)."""
  from dcgan_tf import inference
  from dcgan_tf.train import ema
  for seed in SEEDS[:3]:
    sampled = inference.random_labels(512, 10, seed)
    statistics = ema.statistics_inputs(512, 16, 10, seed)[1].numpy()
    assert sampled.dtype == statistics.dtype == np.int32
    assert 0 <= sampled.min() and sampled.max() < 10 and set(sampled) == set(range(10))
    assert not np.array_equal(sampled, statistics)
    assert not np.array_equal(sampled, inference.random_labels(512, 10, seed + 1))


def test_ema_statistics_no_longer_draw_the_evaluated_noise(tmp_path, monkeypatch):
  """The collision the derivation removes. Before, the 4,096 z that recompute the EMA G's
  batch-norm statistics were default_rng(--seed) and evaluation's z default_rng(evaluate's
  seed, 0 during training): at --seed=0 the statistics were fitted on exactly the 2,000 z
  that evaluation scores. Now evaluation's z share no row with them, for any --seed."""
  from dcgan_tf import inference, models
  from dcgan_tf.train import ema, evaluation
  from dcgan_tf.workdir import Workdir
  config = tiny(latent_dim=100, eval_samples=2000)  # Config()'s latent_dim and eval_samples
  dim, evaluated = config.latent_dim, config.eval_samples
  old_statistics = np.random.default_rng(0).standard_normal((ema.STAT_SAMPLES, dim))
  old_evaluation = np.random.default_rng(0).standard_normal((evaluated, dim))
  assert np.array_equal(old_statistics[:evaluated], old_evaluation)  # the old collision
  # The z evaluation during training feeds G (the same as evaluate --seed=0, its default).
  fed = []
  monkeypatch.setattr(inference, "generate", lambda run, z, labels=None: fed.append(z))
  context = evaluation.make_context(config, Workdir(str(tmp_path)),
                                    models.build_generator(config))
  assert context.samples.images is None  # drawn, and handed to the patched generate
  assert len(fed) == 1 and fed[0].shape == (evaluated, dim)
  evaluated_rows = _rows(fed[0])
  assert len(evaluated_rows) == evaluated
  for seed in SEEDS:
    statistics = ema.statistics_inputs(ema.STAT_SAMPLES, dim, 0, seed)[0]
    assert not evaluated_rows & _rows(statistics), f"--seed={seed}"


def test_real_image_draws_do_not_depend_on_the_global_seed():
  """evaluate (no global seed) must draw the real images evaluation during training (global
  seed from --seed) drew, flips included: the pipeline's augmentation seeds are stateless
  [stream, batch index], not Dataset.random (which mixes in the global seed)."""
  from dcgan_tf.evaluate.context import load_images
  config = tiny(random_flip=True)
  tf.random.set_seed(1)
  a = load_images(config, 64, seed=0)[0]
  tf.random.set_seed(2)
  b = load_images(config, 64, seed=0)[0]
  np.testing.assert_array_equal(a, b)  # the same CPU ops on the same seeds: bit for bit
  unflipped = load_images(config.replace(random_flip=False), 64, seed=0)[0]
  assert not np.array_equal(a, unflipped)  # the flips happened (P(none of 64) = 2^-64)
