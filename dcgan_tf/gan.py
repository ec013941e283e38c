"""GAN(keras.Model): both networks, two optimizers, and the adversarial train_step.

Follows keras-io's `dcgan_overriding_train_step`: `compile(d_optimizer,
g_optimizer)`, `keras.metrics.Mean` trackers exposed through `metrics`. One
train_step = `d_steps` discriminator updates then one generator update; the
generated batch of the last D update is reused for the G update, so G runs
forward once per step when d_steps == 1.

Noise is drawn with stateless ops seeded by (seed, step, replica, draw), so a
resumed run draws exactly the noise an uninterrupted run would have, and
replicas never draw the same z.
"""

import keras
import tensorflow as tf

from dcgan_tf import losses


class GAN(keras.Model):
  """Wraps generator G and discriminator D. Data: (images [B,S,S,C] in [-1,1], labels int32 [B])."""

  def __init__(self, generator, discriminator, latent_dim, seed=0, label_smoothing=0.0,
               d_steps=1, recon_weight=0.0, **kw):
    super().__init__(**kw)
    self.generator = generator
    self.discriminator = discriminator
    self.latent_dim = int(latent_dim)
    self.label_smoothing = float(label_smoothing)  # one-sided, real target 1 - s, s in [0, 0.5)
    self.d_steps = int(d_steps)  # >= 1
    self.recon_weight = float(recon_weight)  # >= 0, conditional L1 term
    self.conditional = bool(getattr(generator, "num_classes", 0))
    # Generator steps taken; checkpointed; seeds the noise. Only the first replica's
    # update counts under tf.distribute (every replica adds 1 in sync).
    self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step",
                            aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
    self.seed = int(seed)
    self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
    self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
    self.d_real_tracker = keras.metrics.Mean(name="d_real")  # mean D(x), sigmoid in [0, 1]
    self.d_fake_tracker = keras.metrics.Mean(name="d_fake")  # mean D(G(z)) before D's update
    self.recon_tracker = keras.metrics.Mean(name="recon_l1")
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

  @property
  def metrics(self):
    trackers = [self.d_loss_tracker, self.g_loss_tracker, self.d_real_tracker, self.d_fake_tracker]
    return trackers + ([self.recon_tracker] if self.recon_weight > 0 else [])

  # ---------------------------------------------------------------- helpers
  def _noise(self, batch, draw):
    """z float32 [batch, latent_dim] ~ N(0, 1), a pure function of (seed, step, replica, draw)."""
    ctx = tf.distribute.get_replica_context()
    replica = ctx.replica_id_in_sync_group if ctx is not None else 0
    seed = tf.stack([tf.constant(self.seed, tf.int64), tf.cast(self.step, tf.int64)])
    seed = tf.random.experimental.stateless_fold_in(seed, tf.cast(replica, tf.int32) * 64 + draw)
    return tf.random.stateless_normal([batch, self.latent_dim], seed=seed)

  def generate(self, z, labels=None, training=False):
    if self.conditional:
      return self.generator(z, labels, training=training)
    return self.generator(z, training=training)

  def discriminate(self, images, labels=None, training=False):
    if self.conditional:
      return self.discriminator(images, labels, training=training)
    return self.discriminator(images, training=training)

  def _update(self, optimizer, tape, loss, variables):
    # scale_loss is the identity for plain optimizers; LossScaleOptimizer.apply unscales
    # the gradients, skips non-finite steps and adapts the scale (mixed_float16).
    grads = tape.gradient(optimizer.scale_loss(loss), variables)
    optimizer.apply(grads, variables)

  def _d_update(self, real, labels, fake, global_batch):
    d_vars = self.discriminator.trainable_variables
    with tf.GradientTape() as tape:
      # Real and fake in separate batches (as the DCGAN paper did): D's batch norm
      # statistics then describe one distribution at a time.
      real_logits = self.discriminate(real, labels, training=True)
      fake_logits = self.discriminate(tf.stop_gradient(fake), labels, training=True)
      d_loss = losses.discriminator_loss(real_logits, fake_logits, global_batch,
                                         self.label_smoothing)
    self._update(self.d_optimizer, tape, d_loss, d_vars)
    return d_loss, real_logits, fake_logits

  # ------------------------------------------------------------- train step
  def train_step(self, data):
    real, labels = data
    real = tf.cast(real, tf.float32)
    batch = tf.shape(real)[0]
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    global_batch = batch * replicas

    for k in range(self.d_steps - 1):  # Goodfellow's extra D steps, fresh z each
      extra_fake = self.generate(self._noise(batch, k + 1), labels, training=True)
      self._d_update(real, labels, extra_fake, global_batch)

    g_vars = self.generator.trainable_variables
    with tf.GradientTape() as g_tape:
      fake = self.generate(self._noise(batch, 0), labels, training=True)
      with g_tape.stop_recording():
        d_loss, real_logits, fake_logits = self._d_update(real, labels, fake, global_batch)
      # Non-saturating G loss on the updated D, reusing the same generated batch.
      g_loss = losses.generator_loss(self.discriminate(fake, labels, training=True), global_batch)
      if self.recon_weight > 0:
        recon = losses.l1_loss(real, fake, global_batch)
        g_loss += self.recon_weight * recon
    self._update(self.g_optimizer, g_tape, g_loss, g_vars)
    self.step.assign_add(1)

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
