"""The adversarial update: what one train step changes, and what the D update alone changes."""

import numpy as np
import pytest
import tensorflow as tf

from conftest import tiny
from dcgan_tf import data, devices
from dcgan_tf.train import build


def _gan(**kw):
  config = tiny(**kw)
  policy = devices.set_precision(config.precision)
  gan, _ = build.build_gan(config, 0, tf.distribute.get_strategy(), policy)
  ds, _ = data.make_dataset(config)
  return gan, next(iter(ds))


def _snapshot(model):
  return [v.numpy().copy() for v in model.trainable_variables]


def _changed(before, model):
  return [not np.array_equal(b, v.numpy()) for b, v in zip(before, model.trainable_variables)]


def test_train_step_changes_both_networks():
  gan, batch = _gan()
  g0, d0 = _snapshot(gan.generator), _snapshot(gan.discriminator)
  logs = gan.train_step(batch)
  assert all(_changed(g0, gan.generator)), "every G variable should move"
  assert all(_changed(d0, gan.discriminator)), "every D variable should move"
  for name in ("d_loss", "g_loss", "d_real", "d_fake"):
    assert np.isfinite(logs[name].numpy()).all()
  assert 0.0 <= float(logs["d_real"][0]) <= 1.0
  assert int(gan.step.numpy()) == 1
  assert int(gan.g_optimizer.iterations.numpy()) == 1
  assert int(gan.d_optimizer.iterations.numpy()) == 1


def test_discriminator_update_alone_leaves_generator():
  gan, (real, labels) = _gan()
  g0, d0 = _snapshot(gan.generator), _snapshot(gan.discriminator)
  fake = gan.generator(tf.random.normal([real.shape[0], gan.latent_dim]), training=True)
  gan._d_update(real, labels, fake, real.shape[0])
  assert not any(_changed(g0, gan.generator))
  assert all(_changed(d0, gan.discriminator))


def test_k_discriminator_steps():
  gan, batch = _gan(d_steps=3)
  gan.train_step(batch)
  assert int(gan.d_optimizer.iterations.numpy()) == 3
  assert int(gan.g_optimizer.iterations.numpy()) == 1


def test_losses_on_known_logits():
  from dcgan_tf import losses
  big = tf.constant([20.0, 20.0])
  small = tf.constant([-20.0, -20.0])
  # Perfect D: 2 log(1 + e^-20) = 4.1e-9, far below 1e-6.
  assert float(losses.discriminator_loss(big, small, 2)) < 1e-6  # perfect D
  # One-sided smoothing: real target 0.9, so a confident D pays ~0.1 * 20 per example:
  # 20 - 0.9 * 20 + 2 log(1 + e^-20) = 2 + 4e-9; a handful of float32 ops on values <= 20,
  # each rounding by <= 1e-6 (half an ulp of 16..32): within 1e-5 (measured exactly 2.0).
  smoothed = float(losses.discriminator_loss(big, small, 2, label_smoothing=0.1))
  assert abs(smoothed - 2.0) < 1e-5
  # softplus(0) = log 2 in float32: within an ulp or two (6e-8 each; measured 1.9e-9).
  assert abs(float(losses.generator_loss(tf.zeros([4]), 4)) - np.log(2)) < 1e-6


def test_hinge_and_least_squares_losses_on_known_logits():
  from dcgan_tf import losses
  real, fake = tf.constant([2.0, 0.0]), tf.constant([-2.0, 0.5])
  # Every value below is a short binary fraction and so is every intermediate: exact in
  # float32, so approx's default rel 1e-6 is a formality.
  # hinge: D = mean(max(0, 1 - real)) + mean(max(0, 1 + fake)) = (0 + 1)/2 + (0 + 1.5)/2
  assert float(losses.discriminator_loss(real, fake, 2, kind="hinge")) == pytest.approx(1.25)
  assert float(losses.generator_loss(fake, 2, kind="hinge")) == pytest.approx(0.75)  # -mean
  # least squares: D = mean((real - 1)^2 / 2) + mean(fake^2 / 2) = (0.5 + 0.5)/2 + (2 + 0.125)/2
  assert float(losses.discriminator_loss(real, fake, 2, kind="least_squares")) == \
      pytest.approx(0.5 + 1.0625)
  assert float(losses.generator_loss(fake, 2, kind="least_squares")) == \
      pytest.approx((4.5 + 0.125) / 2)
  # Per-replica shares: the same logits on half the global batch give half the loss.
  assert float(losses.generator_loss(fake, 4, kind="hinge")) == pytest.approx(0.375)


@pytest.mark.parametrize("loss", ["hinge", "least_squares"])
def test_sngan_trains_with_each_loss(tmp_path, loss):
  from dcgan_tf.train import loop
  summary = loop.train(tiny(variant="sngan", loss=loss, train_steps=3, log_every=1),
                       str(tmp_path / "run"))
  assert summary["step"] == 3 and summary["rollbacks"] == 0
