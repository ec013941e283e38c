"""Adaptive augmentation strength (`--augment_p=auto`; Karras et al. 2020, ADA).

The train step sums sign(D(x_real)) over the augmented real images D scores and counts
them (gan.real_signs / gan.real_seen: per-replica variables, summed when read). After each
round of steps (steps_per_execution steps; ADA itself adjusts every 4 minibatches) this
action reads the sums in cross-replica context, r_t = signs / images in [-1, 1], moves p
by sign(r_t - 0.6) * images / 500k (augment.adapt_probability) and zeroes the sums. The
update is a cross-replica assignment: every replica (and worker) holds the same p, which
the checkpoint saves and a resume restores exactly; the sums are zero at every round's end,
so nothing else needs saving.
"""

import math

from dcgan_tf import augment
from dcgan_tf.train.callbacks import Action


class AdaptAugment(Action):
  """Moves gan.augment_p after every round of steps (see the module doc)."""

  # Runs on a round the guard rejects too: that round is rolled back (p with it, from the
  # checkpoint), and its sums, maybe NaN, must not reach the next round's r_t.
  always = True

  def __init__(self, gan):
    super().__init__()
    self.gan = gan

  def after(self, previous, step, logs):
    gan = self.gan
    seen = float(gan.real_seen.read_value())
    real_sign = float(gan.real_signs.read_value()) / seen if seen > 0 else math.nan
    if math.isfinite(real_sign):
      gan.augment_p.assign(augment.adapt_probability(gan.augment_p, real_sign, seen))
    gan.real_signs.assign(0.0)
    gan.real_seen.assign(0.0)
