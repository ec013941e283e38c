"""GAN(keras.Model): both networks, two optimizers, and the adversarial train_step.

Follows keras-io's `dcgan_overriding_train_step`: `compile(d_optimizer,
g_optimizer)`, `keras.metrics.Mean` trackers exposed through `metrics`. One
train_step = `d_steps` discriminator updates then one generator update; the
generated batch of the last D update is reused for the G update, so G runs
forward once per step when d_steps == 1.

Variants differ only in the networks. Both are always called with the batch's
labels (unconditional networks ignore them); generated images get the real batch's
labels, so `recon_weight` * |x - G(z, y)| compares each real image with a sample of
its own class.

Noise is drawn with stateless ops seeded by (the "train_noise" stream of --seed, step,
draw) for the whole global batch, and each replica takes its own rows: a resumed run draws
exactly the noise an uninterrupted run would have, replicas never draw the same z, and the
noise does not depend on the number of replicas. DiffAugment draws from its own stream
("augment"); seeds.py lists every stream.
"""

import keras
import numpy as np
import tensorflow as tf

from dcgan_tf import augment, losses, seeds
from dcgan_tf import images as images_lib
from dcgan_tf.models.layers import batch_norm_layers

EMA_WARMUP = 10  # --ema_rampup=0: decay at step t min(--ema_decay, (1 + t) / (EMA_WARMUP + t))


def ema_decay_at(decay, step, rampup=0.0):
  """float32 decay of the EMA generator's update at generator step `step` (>= 1).

  rampup > 0 (--ema_rampup; StyleGAN2-ADA's ema_rampup): the average's half-life is
  rampup * step steps (rampup * images seen, in images), d_t = 0.5 ** (1 / (rampup * t)),
  capped at `decay` (--ema_decay, whose half-life ln 0.5 / ln decay steps is the longest).
  The horizon grows with training: early on it spans only the recent weights, which G has
  not yet left behind. rampup = 0: TensorFlow's ExponentialMovingAverage num_updates
  warm-up, min(decay, (1 + t) / (10 + t)). Either way early samples are not stuck at the
  initial weights. Numbers or tensors.
  """
  step = tf.cast(step, tf.float32)
  if rampup > 0:
    ramp = tf.exp(tf.math.log(0.5) / (tf.constant(rampup, tf.float32) * step))
  else:
    ramp = (1.0 + step) / (EMA_WARMUP + step)
  return tf.minimum(tf.constant(decay, tf.float32), ramp)


class GAN(keras.Model):
  """Wraps generator G and discriminator D. Data: (images [B,S,S,C] float in [-1, 1] or uint8
  in [0, 255], labels int32 [B])."""

  def __init__(self, generator, discriminator, latent_dim, seed=0, label_smoothing=0.0,
               d_steps=1, recon_weight=0.0, loss="nonsaturating", augment=(), augment_p=1.0,
               ema_generator=None, ema_decay=0.999, ema_rampup=0.0, **kw):
    super().__init__(**kw)
    self.generator = generator
    self.discriminator = discriminator
    # A copy of G's architecture holding the moving average of its weights, updated at
    # the end of every train step (on the device, inside the compiled step), or None when
    # --ema_decay=0. train/ema.py recomputes its batch-norm statistics.
    self.ema_generator = ema_generator
    self.ema_decay = float(ema_decay)  # in [0, 1)
    self.ema_rampup = float(ema_rampup)  # in [0, 1]; ema_decay_at
    self.loss_kind = loss  # losses.py: nonsaturating | hinge | least_squares
    self.augment = tuple(augment)  # DiffAugment policies (augment.py); () = off
    # Their probability per image (--augment_p): a number in [0, 1], or None = adaptive (ADA),
    # held in a checkpointed variable that starts at 0. The step only sums sign(D(x_real))
    # and the images it saw (per replica, summed when read); train/ada.py moves p between
    # rounds of steps from those sums, in cross-replica context: one value on every replica.
    self.adaptive_augment = bool(self.augment) and augment_p is None
    self.fixed_augment_p = None if augment_p is None else float(augment_p)
    self.augment_p = tf.Variable(0.0 if augment_p is None else float(augment_p), trainable=False,
                                 dtype=tf.float32, name="augment_p")
    # D's undecided output, around which sign(D(x_real)) is taken: logit 0 for the
    # nonsaturating and hinge losses, 0.5 between least squares' targets 0 and 1.
    self.undecided = 0.5 if loss == "least_squares" else 0.0
    self.real_signs, self.real_seen = (
        tf.Variable(0.0, trainable=False, dtype=tf.float32, name=name,
                    synchronization=tf.VariableSynchronization.ON_READ,
                    aggregation=tf.VariableAggregation.SUM)
        for name in ("real_signs", "real_seen"))
    self.latent_dim = int(latent_dim)
    self.label_smoothing = float(label_smoothing)  # one-sided, real target 1 - s, s in [0, 0.5)
    self.d_steps = int(d_steps)  # >= 1
    self.recon_weight = float(recon_weight)  # >= 0, conditional L1 term
    # A D without batch norm (sngan, gan) sees real and fake in ONE call: spectral
    # normalization re-normalises its kernels on every training call, so two calls
    # would score real and fake with two different kernels. A D with batch norm keeps
    # them in separate batches, as the DCGAN paper did.
    self.joint_d_batch = not batch_norm_layers(discriminator)
    # Generator steps taken; checkpointed; seeds the noise. Only the first replica's
    # update counts under tf.distribute (every replica adds 1 in sync).
    self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step",
                            aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
    # First words of the stateless seeds of z and of DiffAugment: their streams of --seed
    # (`seed`), in [0, 2**31) (seeds.py).
    self.noise_seed = seeds.derive(seed, "train_noise")
    self.augment_seed = seeds.derive(seed, "augment")
    self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
    self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
    self.d_real_tracker = keras.metrics.Mean(name="d_real")  # mean D(x), sigmoid in [0, 1]
    self.d_fake_tracker = keras.metrics.Mean(name="d_fake")  # mean D(G(z)) before D's update
    self.recon_tracker = keras.metrics.Mean(name="recon_l1")
    self.augment_p_tracker = keras.metrics.Mean(name="augment_p")  # adaptive only
    self.real_sign_tracker = keras.metrics.Mean(name="d_real_sign")  # ADA's r_t
    # The wrapper has no call(); marking it built lets fit() run under a strategy.
    self.built = True

  def compile(self, d_optimizer, g_optimizer, **kw):
    # optimizer=None: a bare super().compile() would create an unused RMSprop.
    super().compile(optimizer=None, **kw)
    self.d_optimizer = d_optimizer
    self.g_optimizer = g_optimizer
    # Build eagerly: lazily built optimizers fail under MirroredStrategy (keras #23085).
    d_optimizer.build(self.discriminator.trainable_variables)
    g_optimizer.build(self.generator.trainable_variables)

  def _maybe_symbolic_build(self, iterator=None, data_batch=None):
    # Under a strategy, Keras 3.15's fit pulls one batch from a throwaway iterator to
    # build compiled losses/metrics. The GAN compiles none and its layers are built,
    # so that builds nothing; but it fails under MultiWorkerMirroredStrategy with
    # per-worker datasets (an eager PerReplica reduce), and it makes training start
    # from a second iterator, whose seeded shuffle order differs from one device's.
    # Skip it, as Keras does without a strategy.
    del iterator, data_batch

  @property
  def metrics(self):
    trackers = [self.d_loss_tracker, self.g_loss_tracker, self.d_real_tracker, self.d_fake_tracker]
    if self.adaptive_augment:
      trackers += [self.augment_p_tracker, self.real_sign_tracker]
    return trackers + ([self.recon_tracker] if self.recon_weight > 0 else [])

  # ---------------------------------------------------------------- helpers
  def _step_seed(self, stream, draw):
    """Stateless seed int64 [2] of draw `draw` of this step in `stream` (noise_seed or
    augment_seed): [stream, step] with the draw folded in. draw: an int naming the z
    (0 .. d_steps - 1) or the D input (-1 .. 2 * d_steps - 1) within the step."""
    seed = tf.stack([tf.constant(stream, tf.int64), tf.cast(self.step, tf.int64)])
    return tf.random.experimental.stateless_fold_in(seed, draw)

  def _noise(self, batch, draw):
    """z float32 [batch, latent_dim] ~ N(0, 1): this replica's rows of the global batch's z.

    The global z [batch * replicas, latent_dim] is a pure function of (--seed, step, draw),
    so N replicas draw the same z as one device with the same global batch (the
    tf.distribute test relies on it). Drawing the global z on every replica costs
    batch * replicas * latent_dim normals, nothing next to the convolutions.
    """
    ctx = tf.distribute.get_replica_context()
    replica = ctx.replica_id_in_sync_group if ctx is not None else 0
    replicas = ctx.num_replicas_in_sync if ctx is not None else 1
    z = tf.random.stateless_normal([batch * replicas, self.latent_dim],
                                   seed=self._step_seed(self.noise_seed, draw))
    return z[replica * batch:(replica + 1) * batch]

  def _augmented(self, images, draw):
    """DiffAugment of the images D is about to see (augment.py); the images themselves when
    off. Seeded by (--seed, step, draw, replica): every D call draws its own augmentation."""
    if not self.augment:
      return images
    ctx = tf.distribute.get_replica_context()
    replica = ctx.replica_id_in_sync_group if ctx is not None else 0
    seed = tf.random.experimental.stateless_fold_in(self._step_seed(self.augment_seed, draw),
                                                    replica)
    # A fixed p = 1 is DiffAugment: no coins drawn (its augmentations as before p existed).
    if self.adaptive_augment:
      p = self.augment_p
    else:
      p = None if self.fixed_augment_p == 1.0 else self.fixed_augment_p
    return augment.diff_augment(images, self.augment, seed, p)

  def _d_loss(self, real, labels, fake, global_batch, k=0):
    """(D's loss, real logits, fake logits) of D update k: D's forward passes on the real
    and the generated batch (augmented; one call or two, see joint_d_batch) and the loss.
    bench/breakdown.py times this same computation."""
    if self.joint_d_batch:
      n = tf.shape(real)[0]
      both = self._augmented(tf.concat([real, tf.cast(fake, real.dtype)], 0), 2 * k)
      logits = self.discriminator(both, tf.concat([labels, labels], 0), training=True)
      real_logits, fake_logits = logits[:n], logits[n:]
    else:
      # Separate batches: D's batch norm statistics describe one distribution at a time.
      real_logits = self.discriminator(self._augmented(real, 2 * k), labels, training=True)
      fake_logits = self.discriminator(self._augmented(fake, 2 * k + 1), labels, training=True)
    d_loss = losses.discriminator_loss(real_logits, fake_logits, global_batch,
                                       self.label_smoothing, self.loss_kind)
    return d_loss, real_logits, fake_logits

  def _g_loss(self, real, labels, fake, global_batch):
    """(G's loss, the L1 term or None) for the generated batch `fake` = G(z, labels): D's
    forward pass on it (augmented afresh) with D's current weights, the loss, and the
    conditional L1 term. bench/breakdown.py times this same computation."""
    g_logits = self.discriminator(self._augmented(fake, -1), labels, training=True)
    g_loss = losses.generator_loss(g_logits, global_batch, self.loss_kind)
    recon = None
    if self.recon_weight > 0:
      recon = losses.l1_loss(real, fake, global_batch)
      g_loss += self.recon_weight * recon
    return g_loss, recon

  def _d_update(self, real, labels, fake, global_batch, k=0):
    """D update k of this step (0 = the last, whose fake batch G's update reuses)."""
    fake = tf.stop_gradient(fake)
    with tf.GradientTape() as tape:
      d_loss, real_logits, fake_logits = self._d_loss(real, labels, fake, global_batch, k)
    update(self.d_optimizer, tape, d_loss, self.discriminator.trainable_variables)
    return d_loss, real_logits, fake_logits

  def _update_ema(self):
    """ema = d_t ema + (1 - d_t) w for G's trainable weights, d_t = ema_decay_at(step, rampup).

    Runs in every replica on its own copy: G's weights are identical on every replica
    after the optimizer's all-reduced update, so the copies stay identical too.
    """
    d = ema_decay_at(self.ema_decay, self.step, self.ema_rampup)
    for w, e in zip(self.generator.trainable_variables, self.ema_generator.trainable_variables):
      e.assign(d * e + (1.0 - d) * w)

  # ------------------------------------------------------------- train step
  def train_step(self, data):
    real, labels = data
    # uint8 batches (the pipeline's default for training) are scaled here, on the device.
    real = images_lib.scale_to_unit(real) if real.dtype == tf.uint8 else tf.cast(real, tf.float32)
    batch = tf.shape(real)[0]
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    global_batch = batch * replicas

    # Goodfellow's k D steps per G step, fresh z each. They reuse this step's real batch
    # (as keras-io's WGAN-GP does); Goodfellow's Algorithm 1 draws a fresh one per D step.
    for k in range(self.d_steps - 1):
      extra_fake = self.generator(self._noise(batch, k + 1), labels, training=True)
      self._d_update(real, labels, extra_fake, global_batch, k + 1)

    g_vars = self.generator.trainable_variables
    with tf.GradientTape() as g_tape:
      fake = self.generator(self._noise(batch, 0), labels, training=True)
      with g_tape.stop_recording():
        d_loss, real_logits, fake_logits = self._d_update(real, labels, fake, global_batch)
      # G's loss on the updated D, reusing the same generated batch (augmented afresh).
      g_loss, recon = self._g_loss(real, labels, fake, global_batch)
    update(self.g_optimizer, g_tape, g_loss, g_vars)
    if self.adaptive_augment:  # ADA's overfitting signal, this replica's share
      signs = tf.sign(tf.cast(real_logits, tf.float32) - self.undecided)
      self.real_signs.assign_add(tf.reduce_sum(signs))
      self.real_seen.assign_add(tf.cast(tf.size(signs), tf.float32))
      self.augment_p_tracker.update_state(self.augment_p)
      self.real_sign_tracker.update_state(tf.reduce_mean(signs))
    self.step.assign_add(1)
    if self.ema_generator is not None:
      self._update_ema()

    # Trackers get per-replica means (loss * replicas); Mean averages over replicas.
    r = tf.cast(replicas, tf.float32)
    self.d_loss_tracker.update_state(d_loss * r)
    self.g_loss_tracker.update_state(g_loss * r)
    self.d_real_tracker.update_state(tf.reduce_mean(tf.sigmoid(real_logits)))
    self.d_fake_tracker.update_state(tf.reduce_mean(tf.sigmoid(fake_logits)))
    if self.recon_weight > 0:
      self.recon_tracker.update_state(recon * r)
    # Rank-1 logs: MultiWorkerMirroredStrategy's fit fails on scalars (keras #20585).
    return {m.name: tf.reshape(m.result(), [1]) for m in self.metrics}


def update(optimizer, tape, loss, variables):
  """One optimizer step on `variables` from `loss`, recorded on `tape`.

  scale_loss is the identity for plain optimizers; under mixed_float16 the optimizer is a
  LossScaleOptimizer, whose apply() unscales the gradients, skips non-finite steps and
  adapts the scale, with the skip decided for all replicas alike (nonfinite_everywhere).
  """
  optimizer.apply(gradients(optimizer, tape, loss, variables), variables)


def gradients(optimizer, tape, loss, variables):
  """The gradients `update` hands to optimizer.apply(): of the optimizer's scaled loss,
  made non-finite on every replica when one replica's are (LossScaleOptimizer only)."""
  with tape:  # the scaling must be recorded too (else every gradient is None): re-enter
    scaled = optimizer.scale_loss(loss)
  grads = tape.gradient(scaled, variables)
  if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
    grads = nonfinite_everywhere(grads)
  return grads


def nonfinite_everywhere(grads):
  """This replica's gradients, made non-finite (NaN) when any replica's are.

  Keras 3.15's LossScaleOptimizer decides to skip a step from one replica's gradients:
  under MirroredStrategy without XLA replica 0's verdict is applied to all (an overflow
  on replica 1 is then summed into every replica's weights and the scale never shrinks);
  with XLA each replica decides alone and they can branch apart around the gradient
  all-reduce (a hang). One all-reduced count of non-finite replicas makes every replica
  see the same verdict, so all skip and halve their scale together. Costs one scalar
  all-reduce per optimizer and step; nothing with one replica.
  """
  ctx = tf.distribute.get_replica_context()
  if ctx is None or ctx.num_replicas_in_sync == 1:
    return grads
  finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads if g is not None])
  bad = ctx.all_reduce(tf.distribute.ReduceOp.SUM, 1.0 - tf.cast(finite, tf.float32))
  poison = tf.where(bad > 0, float("nan"), 0.0)  # x + NaN = NaN, x + 0 = x (bit-exact)
  return [None if g is None else g + tf.cast(poison, g.dtype) for g in grads]


def log_floats(logs) -> dict:
  """train_step's rank-1 logs (numpy or tensors) -> {name: float}, for callbacks."""
  return {k: float(np.ravel(np.asarray(v))[0]) for k, v in (logs or {}).items()}
