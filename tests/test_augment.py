"""DiffAugment: shapes, value ranges, determinism, eager == XLA, gradients, and its place in
the train step (both networks see augmented images; off changes nothing)."""

import numpy as np
import pytest
import tensorflow as tf

from conftest import tiny_gan
from dcgan_tf import augment
from dcgan_tf.config import augment_policies

SEED = tf.constant([3, 4], tf.int64)


def _images(b=6, s=32, c=3, seed=0):
  return tf.random.stateless_uniform([b, s, s, c], [seed, 1], -1.0, 1.0)


def test_parse_keeps_known_policies_in_order():
  assert augment_policies("cutout, translation") == (("translation", "cutout"), [])
  assert augment_policies("") == ((), [])
  assert augment_policies("color,flip") == (("color",), ["flip"])


def test_translation_moves_pixels_by_at_most_an_eighth_and_pads_with_zero():
  x = np.zeros([64, 32, 32, 1], np.float32)
  x[:, 16, 16, 0] = 1.0  # one bright pixel per image
  y = augment.translation(tf.constant(x), SEED).numpy()
  moves = []
  for image in y:
    rows, cols, _ = np.nonzero(image)
    assert len(rows) == 1  # moved, never duplicated or lost (a 4-pixel shift stays inside)
    moves.append((rows[0] - 16, cols[0] - 16))
  moves = np.array(moves)
  assert np.abs(moves).max() == 4 and len({tuple(m) for m in moves}) > 10
  ones = augment.translation(tf.ones([64, 32, 32, 1]), SEED).numpy()
  assert set(np.unique(ones)) <= {0.0, 1.0} and ones.min() == 0.0  # zero padding shows


def test_cutout_zeroes_one_square_of_half_the_side():
  y = augment.cutout(tf.ones([32, 32, 32, 3]), SEED).numpy()
  for image in y:
    rows, cols = np.nonzero(image[..., 0] == 0)
    assert 0 < len(rows) <= 16 * 16
    h, w = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
    assert len(rows) == h * w and h <= 16 and w <= 16  # one axis-aligned rectangle
    assert np.all(image[rows, cols] == 0) and (image != 0).sum() == 3 * (32 * 32 - h * w)


def test_color_ranges():
  x = _images()
  y = augment.color(x, SEED).numpy()
  assert np.abs(y).max() < 6  # brightness +-0.5, saturation x[0, 2], contrast x[0.5, 1.5]
  gray = tf.tile(_images(c=1), [1, 1, 1, 3])
  y = augment.color(gray, SEED).numpy()  # saturation leaves gray images gray
  # Bit for bit: the channels share the per-pixel and per-image means and every other op
  # is elementwise on equal inputs, so each rounds the same on any device.
  np.testing.assert_array_equal(y[..., 0], y[..., 2])


@pytest.mark.parametrize("policies", [("color",), ("translation",), ("cutout",),
                                      ("color", "translation", "cutout")])
def test_deterministic_shape_preserving_and_same_under_xla(policies):
  x = _images()
  y = augment.diff_augment(x, policies, SEED)
  assert y.shape == x.shape and y.dtype == x.dtype
  # Bit for bit: the same stateless philox draws and the same ops on the same device.
  np.testing.assert_array_equal(y, augment.diff_augment(x, policies, SEED))
  assert not np.array_equal(y, augment.diff_augment(x, policies, SEED + 1))
  jit = tf.function(lambda x, s: augment.diff_augment(x, policies, s), jit_compile=True)
  under_xla = jit(x, SEED).numpy()
  assert under_xla.shape == y.shape and np.isfinite(under_xla).all()
  if "color" not in policies:  # XLA draws other random floats than the CPU kernels
    # Bit for bit: integer draws, gathers and products with 0 or 1 involve no rounding.
    np.testing.assert_array_equal(under_xla, y)


def test_gradients_reach_the_images():
  x = _images()
  with tf.GradientTape() as tape:
    tape.watch(x)
    y = augment.diff_augment(x, ("color", "translation", "cutout"), SEED)
    loss = tf.reduce_sum(y * tf.random.stateless_normal(y.shape, [1, 2]))
  grad = tape.gradient(loss, x).numpy()
  assert np.isfinite(grad).all() and (grad != 0).mean() > 0.5


def _gan(policies):
  return tiny_gan(augment=",".join(policies))


def _record_d_inputs(gan):
  seen, call = [], gan.discriminator.call

  def recording(images, labels=None, training=False):
    seen.append(images.numpy())
    return call(images, labels, training=training)

  gan.discriminator.call = recording
  return seen


def test_train_step_augments_what_d_sees_in_both_updates():
  gan, (real, labels) = _gan(("translation", "cutout"))
  seen = _record_d_inputs(gan)
  before = [v.numpy().copy() for v in gan.generator.trainable_variables]
  gan.train_step((real, labels))
  assert len(seen) == 3  # D step: real, fake; G step: fake
  zero_fraction = [(batch == 0).mean() for batch in seen]
  assert all(f > 0.05 for f in zero_fraction), zero_fraction  # cutout squares in every call
  assert not np.array_equal(seen[0], real.numpy())
  assert any(not np.array_equal(b, v.numpy())  # G learns through the augmentation
             for b, v in zip(before, gan.generator.trainable_variables))


def test_augment_off_feeds_d_the_batch_itself():
  gan, (real, labels) = _gan(())
  assert gan.augment == ()
  seen = _record_d_inputs(gan)
  gan.train_step((real, labels))
  np.testing.assert_array_equal(seen[0], real.numpy())  # bit for bit: no op on the way


# ------------------------------------------------------------- strength p (ADA)

def test_each_policy_reaches_a_share_p_of_the_images():
  x = _images(b=256, c=1)
  always = augment.diff_augment(x, ("translation",), SEED).numpy()
  np.testing.assert_array_equal(augment.diff_augment(x, ("translation",), SEED, 0.0), x)
  # p = 1: every coin u < 1, so DiffAugment's own result, bit for bit.
  np.testing.assert_array_equal(augment.diff_augment(x, ("translation",), SEED, 1.0), always)
  half = augment.diff_augment(x, ("translation",), SEED, 0.25).numpy()
  changed = np.any(half != x.numpy(), axis=(1, 2, 3))
  # An image either is DiffAugment's (shifted) or the input: nothing in between.
  same = np.all(half == always, axis=(1, 2, 3)) | ~changed
  assert same.all()
  # 256 coins with p = 0.25 (a shift of 0 in both axes, 1/81, also leaves an image as it
  # is): the share changed ~ Binomial, sd sqrt(0.25 * 0.75 / 256) = 0.027; 0.1 = 3.7 sd.
  assert abs(changed.mean() - 0.25 * 80 / 81) < 0.1, changed.mean()


def _sign_stub(gan, sign):
  """D's logits replaced by `sign` (+1 or -1) on every image, gradients still flowing
  (zero) through D's weights: a D sure of every real image, or of none."""
  call = gan.discriminator.call

  def stub(images, labels=None, training=False):
    return call(images, labels, training=training) * 0.0 + sign

  gan.discriminator.call = stub


def test_adaptive_p_moves_up_when_d_overfits_and_down_when_it_does_not():
  from dcgan_tf.train import ada
  gan, batch = tiny_gan(augment="translation", augment_p="auto")  # batch 16
  assert gan.adaptive_augment and float(gan.augment_p.numpy()) == 0.0  # starts off
  assert [m.name for m in gan.metrics][-2:] == ["augment_p", "d_real_sign"]  # logged
  action = ada.AdaptAugment(gan)

  def rounds(n, steps_per_round=1):
    for _ in range(n):
      for _ in range(steps_per_round):
        logs = gan.train_step(batch)
      action.after(0, 1, {})
    return logs

  _sign_stub(gan, 1.0)  # r_t = 1 > 0.6: overfitting
  logs = rounds(3)
  step = 16 / augment.ADA_IMAGES  # the global batch over 500k images per unit of p
  # float32 sums of 3 steps of 3.2e-5: a few ulps (2^-24 relative) of the total.
  assert float(gan.augment_p.numpy()) == pytest.approx(3 * step, rel=1e-5)
  assert float(logs["d_real_sign"][0]) == 1.0
  assert float(gan.real_seen.numpy()) == float(gan.real_signs.numpy()) == 0.0  # zeroed
  gan.augment_p.assign(0.5)
  _sign_stub(gan, -1.0)  # r_t = -1 < 0.6 (the stub wraps the previous stub: -1 wins)
  rounds(1, steps_per_round=2)  # one round of two steps: one move of 32 images' worth
  assert float(gan.augment_p.numpy()) == pytest.approx(0.5 - 2 * step, rel=1e-6)
  gan.augment_p.assign(1.0)
  _sign_stub(gan, 1.0)
  rounds(1)
  assert float(gan.augment_p.numpy()) == 1.0  # clipped to [0, 1]


def test_a_rejected_round_moves_no_p_and_leaves_no_sums():
  from dcgan_tf.train import ada
  gan, _ = tiny_gan(augment="translation", augment_p="auto")
  gan.augment_p.assign(0.5)
  gan.real_signs.assign(float("nan"))  # what NaN logits sum to
  gan.real_seen.assign(16.0)
  ada.AdaptAugment(gan).after(0, 1, {})
  assert float(gan.augment_p.numpy()) == 0.5
  assert float(gan.real_seen.numpy()) == float(gan.real_signs.numpy()) == 0.0


def test_a_fixed_p_is_applied_and_never_adapted():
  gan, (real, labels) = tiny_gan(augment="translation,cutout", augment_p="0")
  _sign_stub(gan, 1.0)  # an overfitting D moves no fixed p
  seen = _record_d_inputs(gan)
  logs = gan.train_step((real, labels))
  assert not gan.adaptive_augment and "augment_p" not in logs
  np.testing.assert_array_equal(seen[0], real.numpy())  # p = 0: D sees the batch itself
  assert float(gan.augment_p.numpy()) == 0.0


def test_least_squares_d_is_undecided_at_one_half():
  """LSGAN's D aims at 1 on real and 0 on generated images: an output of 0.3 is a D that
  calls the real image fake (sign -1), where for a logit it would be sure it is real."""
  from dcgan_tf.train import ada
  gan, batch = tiny_gan(augment="translation", augment_p="auto", loss="least_squares")
  gan.augment_p.assign(0.5)
  _sign_stub(gan, 0.3)  # a logit of 0.3 would be r_t = 1 and move p up
  gan.train_step(batch)
  ada.AdaptAugment(gan).after(0, 1, {})
  # 0.5 - 16 / 500k in float32: an ulp of 0.5 (rel 1e-6)
  assert float(gan.augment_p.numpy()) == pytest.approx(0.5 - 16 / augment.ADA_IMAGES, rel=1e-6)
