"""GAN losses: small pure functions on logits (float32 [B]).

Every loss returns the per-replica share of a global-batch mean: the sum over the
local batch divided by `global_batch`. Summed over replicas (what optimizers do
under tf.distribute) that is the mean over the global batch; on one device it is
the plain mean.

Kinds (`--loss`):
  nonsaturating  D: -log D(x) - log(1 - D(G(z))); G: -log D(G(z)) (Goodfellow et al. 2014,
                 section 3; D(.) = sigmoid(logit)). The DCGAN papers' loss, the default.
  hinge          D: max(0, 1 - l_real) + max(0, 1 + l_fake); G: -l_fake (the loss of the
                 spectral-normalization paper's best results, Miyato et al. 2018).
  least_squares  D: (l_real - 1)^2 / 2 + l_fake^2 / 2; G: (l_fake - 1)^2 / 2 (LSGAN, Mao
                 et al. 2017, targets a=0, b=c=1).
One-sided label smoothing (real target 1 - s) applies to nonsaturating and least_squares.
"""

import tensorflow as tf


def _mean(per_example, global_batch):
  return tf.reduce_sum(per_example) / tf.cast(global_batch, tf.float32)


def _bce(logits, target, global_batch):
  logits = tf.cast(logits, tf.float32)
  return _mean(tf.nn.sigmoid_cross_entropy_with_logits(
      labels=tf.fill(tf.shape(logits), target), logits=logits), global_batch)


def discriminator_loss(real_logits, fake_logits, global_batch, label_smoothing=0.0,
                       kind="nonsaturating"):
  """D's loss for `kind`; real target 1 - label_smoothing (one-sided, [0, 0.5))."""
  real, fake = tf.cast(real_logits, tf.float32), tf.cast(fake_logits, tf.float32)
  if kind == "hinge":
    return _mean(tf.nn.relu(1.0 - real), global_batch) + _mean(tf.nn.relu(1.0 + fake),
                                                               global_batch)
  if kind == "least_squares":
    return _mean(0.5 * tf.square(real - (1.0 - label_smoothing)), global_batch) + _mean(
        0.5 * tf.square(fake), global_batch)
  return _bce(real, 1.0 - label_smoothing, global_batch) + _bce(fake, 0.0, global_batch)


def generator_loss(fake_logits, global_batch, kind="nonsaturating"):
  """G's loss for `kind` (nonsaturating: -log D(G(z)))."""
  fake = tf.cast(fake_logits, tf.float32)
  if kind == "hinge":
    return _mean(-fake, global_batch)
  if kind == "least_squares":
    return _mean(0.5 * tf.square(fake - 1.0), global_batch)
  return _bce(fake, 1.0, global_batch)


def l1_loss(real, fake, global_batch):
  """Mean absolute pixel difference |x - G(z, y)| per example, summed / global_batch."""
  diff = tf.abs(tf.cast(real, tf.float32) - tf.cast(fake, tf.float32))
  return _mean(tf.reduce_mean(diff, axis=list(range(1, diff.shape.rank))), global_batch)
