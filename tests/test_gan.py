"""The adversarial update: what one train step changes, and what the D update alone changes."""

import numpy as np
import pytest
import tensorflow as tf

from conftest import TrainState, tiny, tiny_gan as _gan
from dcgan_tf import losses
from dcgan_tf.gan import log_floats


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


def _softplus(x):
  return np.logaddexp(0.0, x)


# Per-example terms of each --loss (losses.py's docstring; sigmoid BCE(x, 1) = softplus(-x),
# BCE(x, 0) = softplus(x)), in float64: (D's on real logits, D's on fake logits, G's).
LOSS_TERMS = {
    "nonsaturating": (lambda r: _softplus(-r), _softplus, lambda f: _softplus(-f)),
    "hinge": (lambda r: np.maximum(0.0, 1.0 - r), lambda f: np.maximum(0.0, 1.0 + f),
              lambda f: -f),
    "least_squares": (lambda r: 0.5 * (r - 1.0) ** 2, lambda f: 0.5 * f ** 2,
                      lambda f: 0.5 * (f - 1.0) ** 2),
}


def _is_mean_of(value, *terms):
  """value (float32, from TF) == sum of the means of `terms` (float64 arrays of B = 16).

  TF computes each term from the same float32 logits in <= 5 float32 ops (BCE: max, mul,
  sub, exp, log1p), each off by <= u = 2^-24 of the term, then sums 16 terms (15 roundings,
  each <= u of a partial sum, itself <= sum |t|), divides by 16 (exact) and adds the two
  means (one rounding): <= ~21 u mean|t| = 1.3e-6 mean|t| in all. 1e-5 mean|t| is 8x that,
  and an absolute bound: right for a mean near 0 (hinge's G loss at the start, ~1e-3).
  """
  expected = sum(float(np.mean(t)) for t in terms)
  return abs(value - expected) <= 1e-5 * sum(float(np.mean(np.abs(t))) for t in terms)


@pytest.mark.parametrize("loss", ["hinge", "least_squares"])
def test_sngan_trains_with_each_loss(tmp_path, loss):
  from dcgan_tf.train import loop
  summary = loop.train(tiny(variant="sngan", loss=loss, train_steps=3, log_every=1),
                       str(tmp_path / "run"))
  assert summary["step"] == 3 and summary["rollbacks"] == 0
  # Step 1 again, then replayed from its start: the logged losses are --loss's formula on
  # the logits of the step's own batch. '/CPU:0': the replay's D and G calls are the step's
  # ops on the same inputs and device, so the logits are the step's, bit for bit.
  with tf.device("/CPU:0"):
    gan, (real, labels) = _gan(variant="sngan", loss=loss)
    g0, d0 = _snapshot(gan.generator), _snapshot(gan.discriminator)
    start = TrainState(gan)
    logs = log_floats(gan.train_step((real, labels)))
    assert all(_changed(g0, gan.generator))
    # Every D variable moves but, under hinge, the logit's bias: its gradient is
    # (#fake logits > -1 - #real logits < 1) / 16 = 0 while every logit is in (-1, 1).
    unmoved = [v.path for v, moved in zip(gan.discriminator.trainable_variables,
                                          _changed(d0, gan.discriminator)) if not moved]
    assert unmoved == (["discriminator/sn_to_logit/to_logit/bias"] if loss == "hinge" else [])
    assert all(np.isfinite(v.numpy()).all() for v in gan.trainable_variables)
    start.restore()  # weights, spectral-norm estimates and step as the step found them
    fake = gan.generator(gan._noise(16, 0), labels, training=True)
    # sngan's D (no batch norm) scores real and fake in one call.
    logits = gan.discriminator(tf.concat([real, fake], 0), tf.concat([labels, labels], 0),
                               training=True).numpy().astype(np.float64)
    start.restore()
    gan._d_update(real, labels, fake, 16)  # the step's D update: G's loss sees D after it
    g_logits = gan.discriminator(fake, labels, training=True).numpy().astype(np.float64)
  for kind, (on_real, on_fake, on_g) in LOSS_TERMS.items():
    # Only this --loss's formula matches: the three differ far beyond the rounding here.
    assert _is_mean_of(logs["d_loss"], on_real(logits[:16]), on_fake(logits[16:])) == (
        kind == loss), (kind, logs)
    assert _is_mean_of(logs["g_loss"], on_g(g_logits)) == (kind == loss), (kind, logs)


def test_generator_loss_is_computed_on_the_updated_discriminator():
  # '/CPU:0': the replay runs the step's own ops on the same inputs and device: bit for bit.
  # dcgan: D's batch norm uses the batch's statistics in training, so D's output on a batch
  # depends on its trainable weights alone.
  with tf.device("/CPU:0"):
    gan, (real, labels) = _gan()
    start = TrainState(gan)
    d_before = _snapshot(gan.discriminator)
    logs = log_floats(gan.train_step((real, labels)))
    d_after = _snapshot(gan.discriminator)  # after D's update: G's update leaves D's weights
    start.restore()  # G's weights and the step counter as the step found them: the same z
    fake = gan.generator(gan._noise(16, 0), labels, training=True)

    def logits_with(d_weights):
      for variable, value in zip(gan.discriminator.trainable_variables, d_weights):
        variable.assign(value)
      return gan.discriminator(fake, labels, training=True)

    before, after = logits_with(d_before), logits_with(d_after)
  assert logs["g_loss"] == float(losses.generator_loss(after, 16))  # the same ops: exact
  # One Adam step moves each of D's weights by ~lr = 2e-4 (its first step is lr * sign(g)),
  # which moves G's loss by ~0.05 here (measured); 1e-3 is far below that and ~1e4 times
  # float32's rounding of a loss ~0.7.
  assert abs(logs["g_loss"] - float(losses.generator_loss(before, 16))) > 1e-3
  # d_fake is D's verdict on the same fake batch before its update (gan.py's tracker).
  assert logs["d_fake"] == float(tf.reduce_mean(tf.sigmoid(before)))
