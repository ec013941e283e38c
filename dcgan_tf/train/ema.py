"""EMA generator (Yazici et al., ICLR 2019): a shadow G whose weights are an exponential
moving average of the trained G's, for samples that are smoother and better than any one
step's (the raw G oscillates with the adversarial game).

After each generator step t: ema = d_t * ema + (1 - d_t) * w with
d_t = min(--ema_decay, (1 + t) / (10 + t)): the warm-up keeps early samples from being stuck
at the initial weights (TensorFlow's ExponentialMovingAverage num_updates rule). With
steps_per_execution k the callback runs every k steps and applies the product of the k
decays, with the newest weights (what one update per step would give for constant weights).

Batch-norm statistics are copied from G at each update, not averaged: moving statistics are
already averages over ~10 steps (momentum 0.9), and they describe the activations that
weights near G's produce; recomputing them for the EMA weights (a pass over data per
update) would cost a G forward per step. The EMA G is checkpointed as `ema_generator/...`,
restored with the rest, and used by default for sample grids, `sample`, `evaluate` and
the SavedModel (`--use_ema=false` picks the raw G).

The update runs in a callback, eagerly between steps, in cross-replica context: under
tf.distribute assigning a mirrored variable there updates every replica.
"""

import keras
import tensorflow as tf

WARMUP = 10  # d_t <= (1 + t) / (WARMUP + t)


def decay_at(decay: float, step: int) -> float:
  """The decay applied at generator step `step` (>= 1): min(decay, (1 + t) / (10 + t))."""
  return min(decay, (1.0 + step) / (WARMUP + step))


def copy_weights(source, target) -> None:
  """target's variables = source's (same architecture), e.g. the EMA G at step 0."""
  for s, t in zip(source.variables, target.variables):
    t.assign(s)


class EMAUpdate(keras.callbacks.Callback):
  """Updates gan.ema_generator from gan.generator after every fit step (see module doc)."""

  def __init__(self, gan, decay: float):
    super().__init__()
    self.gan, self.decay = gan, float(decay)
    g, ema = gan.generator, gan.ema_generator
    self._pairs = list(zip(g.trainable_variables, ema.trainable_variables))
    self._copies = list(zip(g.non_trainable_variables, ema.non_trainable_variables))
    self.last_step = None

  def on_train_begin(self, logs=None):
    self.last_step = int(self.gan.step.numpy())  # a restore or rollback moves it

  @tf.function
  def _apply(self, decay):
    for w, e in self._pairs:
      e.assign(decay * e + (1.0 - decay) * w)
    for w, e in self._copies:
      e.assign(w)

  def on_train_batch_end(self, batch, logs=None):
    step = int(self.gan.step.numpy())
    if step <= self.last_step:
      return
    decay = 1.0
    for t in range(self.last_step + 1, step + 1):
      decay *= decay_at(self.decay, t)
    self._apply(tf.constant(decay, tf.float32))
    self.last_step = step
