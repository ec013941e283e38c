"""The EMA generator: the moving average it promises, its warm-up, batch-norm statistics,
checkpoints, and which generator samples, evaluation and the export use."""

import os

import numpy as np
import pytest
import tensorflow as tf

from conftest import tiny
from dcgan_tf.train import ema


def test_decay_warms_up_then_holds():
  assert ema.decay_at(0.999, 1) == pytest.approx(2 / 11)  # early steps follow G closely
  assert ema.decay_at(0.999, 90) == pytest.approx(91 / 100)
  assert ema.decay_at(0.999, 10 ** 6) == 0.999
  assert ema.decay_at(0.5, 100) == 0.5


def _gan(**kw):
  from dcgan_tf import data
  from dcgan_tf.train import build
  config = tiny(**kw)
  gan, _ = build.build_gan(config, 0, tf.distribute.get_strategy(), "float32")
  return gan, data.make_dataset(config)[0]


def test_ema_is_the_warmed_up_moving_average_of_g():
  gan, dataset = _gan(ema_decay=0.9)
  g, shadow = gan.generator, gan.ema_generator
  for a, b in zip(g.variables, shadow.variables):  # starts as G's copy
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  update = ema.EMAUpdate(gan, 0.9)
  update.on_train_begin()
  expected = [v.numpy().copy() for v in g.trainable_variables]
  batches = iter(dataset)
  for step in (1, 2, 3):
    gan.train_step(next(batches))
    update.on_train_batch_end(0)
    d = ema.decay_at(0.9, step)
    expected = [d * e + (1 - d) * w.numpy() for e, w in zip(expected, g.trainable_variables)]
  for e, v in zip(expected, shadow.trainable_variables):
    np.testing.assert_allclose(v.numpy(), e, rtol=1e-5, atol=1e-7, err_msg=v.path)
  assert not np.allclose(shadow.trainable_variables[0].numpy(),
                         g.trainable_variables[0].numpy())  # an average, not a copy


def _statistics(model):
  return [v.numpy().copy() for layer in ema.batch_norm_layers(model)
          for v in (layer.moving_mean, layer.moving_variance)]


def test_statistics_are_the_mean_of_the_batch_statistics_of_the_ema_weights():
  gan, dataset = _gan(ema_decay=0.9)
  gan.train_step(next(iter(dataset)))  # G's BN statistics move away from the initial ones
  g = gan.ema_generator
  g.set_weights([w * 1.5 for w in gan.generator.get_weights()])  # weights unlike G's
  from dcgan_tf import inference
  z = inference.latent(64, gan.latent_dim, seed=3)
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
  for got, a, b in zip(stats, *halves):
    np.testing.assert_allclose(got, (a + b) / 2, rtol=1e-4, atol=1e-6)
  assert [layer.momentum for layer in ema.batch_norm_layers(g)] == [0.9] * (len(stats) // 2)
  for got, raw in zip(stats, _statistics(gan.generator)):  # not G's statistics
    assert np.abs(got - raw).max() > 1e-3


def test_statistics_are_recomputed_when_the_ema_g_is_read():
  gan, _ = _gan(ema_decay=0.9)
  update = ema.EMAUpdate(gan, 0.9, periods=(0, 3), seed=5)
  update.on_train_begin()
  initial = _statistics(gan.ema_generator)
  weight = gan.generator.trainable_variables[0]
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


def test_several_steps_per_callback_apply_the_product_of_decays():
  gan, _ = _gan(ema_decay=0.9)
  update = ema.EMAUpdate(gan, 0.9)
  update.on_train_begin()
  shadow = gan.ema_generator.trainable_variables[0]
  before, weight = shadow.numpy().copy(), gan.generator.trainable_variables[0]
  weight.assign(weight + 1.0)
  gan.step.assign(3)  # steps_per_execution=3: one callback after three steps
  update.on_train_batch_end(0)
  d = ema.decay_at(0.9, 1) * ema.decay_at(0.9, 2) * ema.decay_at(0.9, 3)
  np.testing.assert_allclose(shadow.numpy(), d * before + (1 - d) * weight.numpy(), rtol=1e-5)


def test_ema_is_checkpointed_and_used_by_sample_evaluate_and_export(tmp_path):
  from dcgan_tf import images, inference
  from dcgan_tf.train import loop
  workdir = str(tmp_path / "run")
  summary = loop.train(tiny(train_steps=4, export=True), workdir)
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
