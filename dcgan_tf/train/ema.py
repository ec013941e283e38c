"""EMA generator (Yazici et al., ICLR 2019): a shadow G whose weights are an exponential
moving average of the trained G's, for samples that are smoother and better than any one
step's (the raw G oscillates with the adversarial game).

After each generator step t: ema = d_t * ema + (1 - d_t) * w with
d_t = min(--ema_decay, 0.5 ** (1 / (--ema_rampup * t))) (gan.ema_decay_at: the average's
half-life grows as a share of the steps taken; --ema_rampup=0: min(--ema_decay,
(1 + t) / (10 + t))). The update runs inside the
compiled train step (GAN._update_ema), so it costs no dispatch of its own and every step
gets its own decay whatever steps_per_execution is.

Batch-norm statistics are recomputed for the EMA weights, not copied from G: G's moving
statistics describe the activations of G's own weights, and applied to the averaged
weights they mismatch (measured: copying scores a worse FID than recomputing,
docs/results.md). Recomputing is a pass of the EMA G in training mode over
--ema_stat_samples (default STAT_SAMPLES) fixed z (no data needed), averaging the batch
statistics ("standing statistics", BigGAN).
The z (and labels) are the "ema_statistics" stream of --seed (seeds.py), apart from the z
that evaluation scores: the statistics describe G on any z, not on the evaluated ones.
By default it costs STAT_SAMPLES / STAT_BATCH = 16 G forwards, so EMAStatistics runs it
only when a round of steps crosses a period of something that reads the EMA G (sample grid,
checkpoint, evaluation), before a preemption checkpoint, and when fit ends; each
checkpoint then holds statistics that match its EMA weights, and sample/evaluate/export
read them from there. The EMA G is checkpointed as `ema_generator/...`, restored with the
rest, and used by default for sample grids, `sample`, `evaluate` and the SavedModel
(`--use_ema=false` picks the raw G).

The recomputation runs eagerly between steps, in cross-replica context: batch statistics
are local (every worker draws the same z, so all compute the same values).
"""

import tensorflow as tf

from dcgan_tf import seeds
from dcgan_tf.models.layers import batch_norm_layers
from dcgan_tf.train.callbacks import Action, crossed

# z drawn to recompute the EMA G's batch-norm statistics, in batches of STAT_BATCH: the
# population statistics G's activations converge to (inference wants those, not one
# batch's), 16 G forwards.
STAT_SAMPLES = 4096
STAT_BATCH = 256


def statistics_inputs(num: int, latent_dim: int, num_classes: int, seed: int):
  """(z float32 [num, latent_dim] ~ N(0, 1), labels int32 [num] uniform in [0, num_classes)
  or None when num_classes is 0) of the recomputation in a run seeded with `seed` (--seed):
  stateless seeds [derive(seed, "ema_statistics"), 0] (z) and [..., 1] (labels)."""
  stream = seeds.derive(seed, "ema_statistics")
  z = tf.random.stateless_normal([num, latent_dim], seed=[stream, 0])
  labels = None
  if num_classes:
    labels = tf.random.stateless_uniform([num], seed=[stream, 1], maxval=num_classes,
                                         dtype=tf.int32)
  return z, labels


def recompute_statistics(generator, latent_dim: int, num_classes: int, seed: int,
                         samples: int = STAT_SAMPLES, batch_size: int = STAT_BATCH) -> None:
  """Sets each batch norm's moving mean / variance of `generator` to the mean of its
  training-mode batch statistics over `samples` z ~ N(0, 1) in batches of `batch_size`
  (labels uniform when conditional). z and labels are a function of `seed` (--seed;
  statistics_inputs), so the result depends only on the weights. A generator without batch
  norm is left as it is. samples < batch_size: one batch of `samples`.
  """
  layers = batch_norm_layers(generator)
  if not layers:
    return
  momenta = [layer.momentum for layer in layers]
  batch_size = min(batch_size, samples)
  batches = max(1, samples // batch_size)
  z, labels = statistics_inputs(batches * batch_size, latent_dim, num_classes, seed)
  try:
    for i in range(batches):
      # moving = m * moving + (1 - m) * batch with m = i / (i + 1): after batch i the
      # moving value is the plain mean of batches 0..i (batch 0 overwrites the old one).
      for layer in layers:
        layer.momentum = i / (i + 1)
      rows = slice(i * batch_size, (i + 1) * batch_size)
      generator(z[rows], None if labels is None else labels[rows], training=True)
  finally:
    for layer, momentum in zip(layers, momenta):
      layer.momentum = momentum


class EMAStatistics(Action):
  """Recomputes gan.ema_generator's batch-norm statistics when a round of steps crosses
  one of `periods` and at the end of fit (see the module doc).

  periods: the step periods at which something reads the EMA G (sample grid, checkpoint,
  evaluation; 0 = none). num_classes: > 0 when G is conditional. seed: --seed, of the
  recomputation's z (statistics_inputs). samples: --ema_stat_samples, how many z.
  """

  def __init__(self, gan, periods=(), num_classes=0, seed=0, samples=STAT_SAMPLES):
    super().__init__()
    self.gan = gan
    self.periods = tuple(int(p) for p in periods if p)
    self.num_classes, self.seed, self.samples = int(num_classes), int(seed), int(samples)
    self.last_step = None
    self.stats_step = None  # step whose EMA weights the statistics describe

  def begin(self, step):
    self.last_step = step  # a restore or rollback moves it
    self.stats_step = step  # restored (or initial) statistics match the weights

  def refresh_statistics(self):
    """Recomputes the EMA G's batch-norm statistics unless they match its weights already."""
    if self.stats_step != self.last_step:
      recompute_statistics(self.gan.ema_generator, self.gan.latent_dim, self.num_classes,
                           self.seed, self.samples)
      self.stats_step = self.last_step

  def after(self, previous, step, logs):
    self.last_step = step
    if any(crossed(previous, step, p) for p in self.periods):
      self.refresh_statistics()

  def end(self, step):
    self.refresh_statistics()  # the final checkpoint, grid and export read the EMA G next
