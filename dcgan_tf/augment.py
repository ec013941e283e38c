"""DiffAugment (Zhao et al., NeurIPS 2020): differentiable augmentations for D's inputs.

The same kind of random augmentation is applied to real and generated images wherever D
sees them (its own update and G's), so D never sees an un-augmented image and G is not
pushed towards the augmentations: with little data (a few thousand images) this keeps D
from memorising the training set. Every op is differentiable with respect to the images
(gradients reach G), uses only tf ops with static shapes (runs inside the jit-compiled
train step) and is stateless: a seed int32/int64 [2] decides it.

Policies (`--augment`, any comma-separated subset of config.AUGMENT_POLICIES, empty = off):
  color        brightness + U(-0.5, 0.5); saturation x U(0, 2) around the pixel's channel
               mean; contrast x U(0.5, 1.5) around the image mean (the paper's ranges)
  translation  shift by up to 1/8 of the side in each axis, zero (mid-gray) padding
  cutout       a zero (mid-gray) square of half the side at a random position
Images are float [B, H, W, C] in [-1, 1] (color may leave that range, as in the paper).

Strength (`--augment_p`): each policy is applied to each image with probability p (ADA's
form, Karras et al. 2020: with p < 1 D also sees clean images, so G is not pushed towards
augmented-looking samples however long it trains). p = 1 is DiffAugment itself. auto: p
starts at 0 and after every round of steps (one step on CPUs, steps_per_execution on
accelerators; train/ada.py) moves by sign(r_t - ADA_TARGET) * images / ADA_IMAGES
(adapt_probability), r_t = E[sign(D(x_real))] over the round's augmented real images (for
least squares sign(D - 0.5), its undecided output): D that is sure of every training image
(r_t -> 1) is overfitting and gets more augmentation.
ADA_IMAGES = 500k images takes p from 0 to 1 (the paper's speed); ADA_TARGET = 0.6 (the
paper's).
"""

import tensorflow as tf

from dcgan_tf.config import AUGMENT_POLICIES
TRANSLATION_RATIO = 0.125  # largest shift, as a fraction of the side
CUTOUT_RATIO = 0.5  # side of the cut square, as a fraction of the image side
# One RNG algorithm everywhere: "auto_select" picks different ones eagerly and under XLA.
ALG = "philox"
ADA_TARGET = 0.6  # r_t above it: D is overfitting, p goes up
ADA_IMAGES = 500_000  # images over which p can move from 0 to 1


def _uniform(shape, seed, low, high, dtype=tf.float32):
  return tf.random.stateless_uniform(shape, seed, low, high, dtype=dtype, alg=ALG)


def color(x, seed):
  seeds = tf.random.experimental.stateless_split(seed, 3, alg=ALG)
  shape = tf.stack([tf.shape(x)[0], 1, 1, 1])
  x = x + _uniform(shape, seeds[0], -0.5, 0.5, x.dtype)  # brightness
  mean = tf.reduce_mean(x, axis=3, keepdims=True)
  x = (x - mean) * _uniform(shape, seeds[1], 0.0, 2.0, x.dtype) + mean  # saturation
  mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
  return (x - mean) * _uniform(shape, seeds[2], 0.5, 1.5, x.dtype) + mean  # contrast


def translation(x, seed, ratio=TRANSLATION_RATIO):
  """Per-image integer shifts in [-ratio * side, ratio * side]; uncovered pixels are 0."""
  b, h, w = tf.shape(x)[0], x.shape[1], x.shape[2]
  sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
  seeds = tf.random.experimental.stateless_split(seed, 2, alg=ALG)
  dy = _uniform([b, 1], seeds[0], -sy, sy + 1, tf.int32)
  dx = _uniform([b, 1], seeds[1], -sx, sx + 1, tf.int32)
  # Row i of the output reads row i + dy of the input padded by one zero row on each side;
  # indices past the border land on the padding.
  rows = tf.clip_by_value(tf.range(h)[None] + dy + 1, 0, h + 1)  # [B, H]
  cols = tf.clip_by_value(tf.range(w)[None] + dx + 1, 0, w + 1)  # [B, W]
  padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
  out = tf.gather(padded, rows, axis=1, batch_dims=1)  # [B, H, W + 2, C]
  return tf.gather(out, cols, axis=2, batch_dims=1)  # [B, H, W, C]


def cutout(x, seed, ratio=CUTOUT_RATIO):
  """Zeroes one square of side ratio * side per image (it may reach past the border)."""
  b, h, w = tf.shape(x)[0], x.shape[1], x.shape[2]
  ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
  seeds = tf.random.experimental.stateless_split(seed, 2, alg=ALG)
  top = _uniform([b, 1, 1], seeds[0], 0, h + (1 - ch % 2), tf.int32)
  left = _uniform([b, 1, 1], seeds[1], 0, w + (1 - cw % 2), tf.int32)
  rows = tf.range(h)[None, :, None] - top + ch // 2  # [B, H, 1]: row inside the square?
  cols = tf.range(w)[None, None, :] - left + cw // 2  # [B, 1, W]
  inside = (rows >= 0) & (rows < ch) & (cols >= 0) & (cols < cw)
  return x * tf.cast(~inside, x.dtype)[..., None]


OPS = {"color": color, "translation": translation, "cutout": cutout}
assert set(OPS) == set(AUGMENT_POLICIES)


def diff_augment(x, policies, seed, p=None):
  """Applies `policies` (config.augment_policies' tuple) in order to images x with
  stateless `seed` [2]; no policies: x itself. p: None = every policy to every image
  (DiffAugment), else a float32 scalar in [0, 1] (number or tensor): each policy to each
  image with probability p, drawn independently."""
  if not policies:
    return x
  seeds = tf.random.experimental.stateless_split(seed, len(policies), alg=ALG)
  for i, name in enumerate(policies):
    augmented = OPS[name](x, seeds[i])
    if p is None:
      x = augmented
    else:  # u ~ U[0, 1) < p: p = 0 never, p = 1 always; the coin's seed: policy i's, folded
      coin = tf.random.experimental.stateless_fold_in(seeds[i], 1, alg=ALG)
      u = _uniform(tf.stack([tf.shape(x)[0], 1, 1, 1]), coin, 0.0, 1.0)
      x = tf.where(u < tf.cast(p, tf.float32), augmented, tf.cast(x, augmented.dtype))
  return x


def adapt_probability(p, real_sign_mean, images):
  """ADA's adjustment: p + sign(r_t - ADA_TARGET) * images / ADA_IMAGES, clipped to [0, 1].
  p: float32 scalar; real_sign_mean: r_t = E[sign(D(x_real))] in [-1, 1]; images: how many
  real images r_t was measured on (the global batch)."""
  step = tf.cast(images, tf.float32) / ADA_IMAGES
  return tf.clip_by_value(p + tf.sign(real_sign_mean - ADA_TARGET) * step, 0.0, 1.0)
