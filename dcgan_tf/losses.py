"""GAN losses: small pure functions on logits (float32 [B]).

Every loss returns the per-replica share of a global-batch mean: the sum over the
local batch divided by `global_batch`. Summed over replicas (what optimizers do
under tf.distribute) that is the mean over the global batch; on one device it is
the plain mean.
"""

import tensorflow as tf


def _bce(logits, target, global_batch):
  logits = tf.cast(logits, tf.float32)
  per_example = tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.fill(tf.shape(logits), target),
                                                        logits=logits)
  return tf.reduce_sum(per_example) / tf.cast(global_batch, tf.float32)


def discriminator_loss(real_logits, fake_logits, global_batch, label_smoothing=0.0):
  """-log D(x) - log(1 - D(G(z))); real target 1 - label_smoothing (one-sided, [0, 0.5))."""
  return (_bce(real_logits, 1.0 - label_smoothing, global_batch)
          + _bce(fake_logits, 0.0, global_batch))


def generator_loss(fake_logits, global_batch):
  """Non-saturating loss: -log D(G(z)) (Goodfellow et al. 2014, section 3)."""
  return _bce(fake_logits, 1.0, global_batch)


def l1_loss(real, fake, global_batch):
  """Mean absolute pixel difference |x - G(z, y)| per example, summed / global_batch."""
  diff = tf.abs(tf.cast(real, tf.float32) - tf.cast(fake, tf.float32))
  per_example = tf.reduce_mean(diff, axis=list(range(1, diff.shape.rank)))
  return tf.reduce_sum(per_example) / tf.cast(global_batch, tf.float32)
