"""The EMA generator: the moving average it promises, its warm-up, batch-norm statistics,
checkpoints, and which generator samples, evaluation and the export use."""

import os

import numpy as np
import pytest
import tensorflow as tf

from conftest import tiny
from dcgan_tf.gan import ema_decay_at
from dcgan_tf.train import ema


def decay_at(decay, step, rampup=0.0):
  return float(ema_decay_at(decay, step, rampup))


def test_decay_warms_up_then_holds():
  # float32 arithmetic: (1 + t) / (10 + t) is one rounded division (<= 2^-24 relative,
  # approx's default rel=1e-6 covers it); the held decay is float32(0.999).
  assert decay_at(0.999, 1) == pytest.approx(2 / 11)  # early steps follow G closely
  assert decay_at(0.999, 90) == pytest.approx(91 / 100)
  assert decay_at(0.999, 10 ** 6) == pytest.approx(0.999)
  assert decay_at(0.5, 100) == 0.5


def test_ramp_up_half_life_is_a_fraction_of_the_steps_taken():
  # d_t = 0.5 ** (1 / (rampup t)): after rampup * t steps of decay d_t the old weights'
  # share is one half. float32 exp(log(0.5) / x): a few roundings of 2^-24 (rel=1e-6).
  for step in (1, 20, 1500, 6000):
    d = decay_at(0.999, step, 0.05)
    assert d == pytest.approx(0.5 ** (1 / (0.05 * step)), rel=1e-6)
    # The half-life, in steps: d's float32 rounding (<= a few 2^-24 relative) grows n-fold
    # in d ** n, n = 0.05 t <= 300 here: <= ~5e-5 relative; rel 1e-4 covers it.
    assert d ** (0.05 * step) == pytest.approx(0.5, rel=1e-4)
  # Capped by --ema_decay once its half-life (ln 0.5 / ln 0.999 = 692.8 steps) is shorter
  # than 5% of the steps: from step 13,857.
  assert decay_at(0.999, 13000, 0.05) < decay_at(0.999, 14000, 0.05) == pytest.approx(0.999)
  assert decay_at(0.999, 10 ** 6, 0.05) == pytest.approx(0.999)


@pytest.fixture
def on_cpu():
  """Exact comparisons of recomputed statistics need the same reduction order on every
  call: deterministic CPU kernels (a GPU's reductions may reorder between calls)."""
  with tf.device("/CPU:0"):
    yield


def _gan(**kw):
  from dcgan_tf import data
  from dcgan_tf.train import setup
  config = tiny(**kw)
  gan, _, _ = setup.make_gan(config, tf.distribute.get_strategy())
  return gan, data.make_dataset(config)[0]


def test_ema_is_the_warmed_up_moving_average_of_g():
  # rampup 1: d_t = 0.5 ** (1 / t) = 0.5, 0.707, 0.794 at steps 1-3 (under the 0.9 cap)
  gan, dataset = _gan(ema_decay=0.9, ema_rampup=1.0)
  g, shadow = gan.generator, gan.ema_generator
  for a, b in zip(g.variables, shadow.variables):  # starts as G's copy
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  expected = [v.numpy().copy() for v in g.trainable_variables]
  batches = iter(dataset)
  step_fn = tf.function(gan.train_step)  # as fit runs it: the update is in the step
  for step in (1, 2, 3):
    step_fn(next(batches))
    d = decay_at(0.9, step, 1.0)
    expected = [d * e + (1 - d) * w.numpy() for e, w in zip(expected, g.trainable_variables)]
  # Three updates of two products and a sum each, in float32 on both sides: ~9 roundings
  # of 2^-24 (5e-7 relative) apart; atol for weights near 0, where d e and (1 - d) w cancel
  # (2^-24 of weights ~0.1).
  for e, v in zip(expected, shadow.trainable_variables):
    np.testing.assert_allclose(v.numpy(), e, rtol=1e-5, atol=1e-7, err_msg=v.path)
  assert not np.allclose(shadow.trainable_variables[0].numpy(),
                         g.trainable_variables[0].numpy())  # an average, not a copy


def _statistics(model):
  return [v.numpy().copy() for layer in ema.batch_norm_layers(model)
          for v in (layer.moving_mean, layer.moving_variance)]


def test_statistics_are_the_mean_of_the_batch_statistics_of_the_ema_weights(on_cpu):
  gan, dataset = _gan(ema_decay=0.9)
  gan.train_step(next(iter(dataset)))  # G's BN statistics move away from the initial ones
  g = gan.ema_generator
  g.set_weights([w * 1.5 for w in gan.generator.get_weights()])  # weights unlike G's
  z = ema.statistics_inputs(64, gan.latent_dim, 0, seed=3)[0].numpy()  # what it draws
  halves = []
  for rows in (slice(0, 32), slice(32, 64)):  # each half's batch statistics, by hand
    for layer in ema.batch_norm_layers(g):
      layer.momentum = 0.0
    g(tf.constant(z[rows]), training=True)
    halves.append(_statistics(g))
  for layer in ema.batch_norm_layers(g):
    layer.momentum = 0.9
  ema.recompute_statistics(g, gan.latent_dim, 0, seed=3, samples=64, batch_size=32)
  stats = _statistics(g)
  assert len(stats) >= 4
  # The same batch statistics on both sides (same kernels, on the CPU); they differ in the
  # final average only (numpy's (a + b) / 2 vs Keras' m * a + (1 - m) * b with m = 1/2,
  # and the variance's E[x^2] - E[x]^2 cancellation, ~1e-6 relative here): rtol 1e-4.
  for got, a, b in zip(stats, *halves):
    np.testing.assert_allclose(got, (a + b) / 2, rtol=1e-4, atol=1e-6)
  assert [layer.momentum for layer in ema.batch_norm_layers(g)] == [0.9] * (len(stats) // 2)
  for got, raw in zip(stats, _statistics(gan.generator)):  # not G's statistics
    assert np.abs(got - raw).max() > 1e-3
  # Fewer samples than a batch (--ema_stat_samples=32): one batch of exactly those 32 z.
  few = ema.statistics_inputs(32, gan.latent_dim, 0, seed=3)[0]
  for layer in ema.batch_norm_layers(g):
    layer.momentum = 0.0
  g(few, training=True)
  by_hand = _statistics(g)
  ema.recompute_statistics(g, gan.latent_dim, 0, seed=3, samples=32)
  for got, want in zip(_statistics(g), by_hand):  # the same ops on the same batch
    np.testing.assert_array_equal(got, want)


def test_statistics_are_recomputed_when_the_ema_g_is_read(on_cpu):
  gan, _ = _gan(ema_decay=0.9)
  update = ema.EMAStatistics(gan, periods=(0, 3), seed=5)
  update.on_train_begin()
  initial = _statistics(gan.ema_generator)
  weight = gan.ema_generator.trainable_variables[0]  # as the train step's EMA update would
  for step in (1, 2):  # not a period: weights move, statistics stay
    weight.assign(weight * 1.5)
    gan.step.assign(step)
    update.on_train_batch_end(0)
  for a, b in zip(initial, _statistics(gan.ema_generator)):
    np.testing.assert_array_equal(a, b)
  gan.step.assign(3)
  update.on_train_batch_end(0)
  at_period = _statistics(gan.ema_generator)
  ema.recompute_statistics(gan.ema_generator, gan.latent_dim, 0, seed=5)
  for a, b in zip(at_period, _statistics(gan.ema_generator)):
    np.testing.assert_array_equal(a, b)
  assert any(np.abs(a - b).max() > 1e-3 for a, b in zip(initial, at_period))
  weight.assign(weight * 1.5)
  gan.step.assign(4)
  update.on_train_batch_end(0)
  update.on_train_end()  # the end of fit refreshes them too
  assert any(np.abs(a - b).max() > 1e-4 for a, b in zip(at_period, _statistics(gan.ema_generator)))


def test_a_round_of_steps_crossing_a_period_recomputes_the_statistics():
  """steps_per_execution=4 with a period of 3: the round 0 -> 4 crosses step 3."""
  gan, _ = _gan(ema_decay=0.9)
  update = ema.EMAStatistics(gan, periods=(3,), seed=5)
  update.on_train_begin()
  initial = _statistics(gan.ema_generator)
  weight = gan.ema_generator.trainable_variables[0]
  weight.assign(weight * 1.5)
  gan.step.assign(4)
  update.on_train_batch_end(0)
  assert any(np.abs(a - b).max() > 1e-3 for a, b in zip(initial, _statistics(gan.ema_generator)))


def test_ema_is_checkpointed_and_used_by_sample_evaluate_and_export(tmp_path, monkeypatch):
  from dcgan_tf import images, inference
  from dcgan_tf.train import loop
  workdir = str(tmp_path / "run")
  samples, recompute = [], ema.recompute_statistics
  monkeypatch.setattr(ema, "recompute_statistics",
                      lambda *a: samples.append(a[4]) or recompute(*a))
  summary = loop.train(tiny(train_steps=4, export=True, ema_stat_samples=96), workdir)
  assert samples and set(samples) == {96}  # --ema_stat_samples reaches the recomputation
  keys = {k for k, _ in tf.train.list_variables(summary["checkpoint"])}
  assert "ema_generator/up1/deconv/kernel/.ATTRIBUTES/VARIABLE_VALUE" in keys
  shadow = inference.load_run(workdir, discriminator=False)
  raw = inference.load_run(workdir, discriminator=False, use_ema=False)
  assert shadow.ema and not raw.ema
  z = inference.latent(4, 16, seed=0)
  from_ema, from_raw = inference.generate(shadow, z), inference.generate(raw, z)
  # Two different generators (a few steps in, the outputs are still small).
  assert np.abs(from_ema - from_raw).max() > 0.01 * np.abs(from_raw).max()
  served = tf.saved_model.load(os.path.join(workdir, "saved_model")).signatures[
      "serving_default"](z=tf.constant(z))["images"].numpy()
  assert np.abs(served.astype(int) - images.to_uint8(from_ema).numpy()).max() <= 1


def test_no_ema_with_decay_zero(tmp_path):
  from dcgan_tf import inference
  from dcgan_tf.train import loop
  workdir = str(tmp_path / "run")
  summary = loop.train(tiny(train_steps=2, ema_decay=0.0), workdir)
  keys = {k for k, _ in tf.train.list_variables(summary["checkpoint"])}
  assert not [k for k in keys if k.startswith("ema_generator")]
  assert not inference.load_run(workdir, discriminator=False).ema  # falls back to G
