"""Where a train step's time goes: its parts, and every conv layer's three passes.

`breakdown` times the parts of a step (G forward, D forward, the gradient passes,
the whole step) and every conv layer's forward / input-gradient / weight-gradient
on its own, each as a GFLOP/s figure (bench/flops.py counts the FLOPs). The parts
run the train step's own code (gan.GAN's losses, DiffAugment, D's joint or separate
batches, the optimizers' loss scaling), so they time what training runs.
"""

from typing import List

import tensorflow as tf

from dcgan_tf import gan as gan_lib
from dcgan_tf.bench import flops as flops_lib
from dcgan_tf.bench.step import Setting, StepProbe, load_average, median, wall
from dcgan_tf.config import Config


def _time_fn(fn, args, iters):
  fn(*args)  # trace
  wall(fn, *args)
  return median([wall(fn, *args) for _ in range(iters)])


def step_parts(gan, labels, jit: bool) -> dict:
  """{part: tf.function} of the parts of `gan`'s train step on one device, for a batch
  with int32 `labels` [B] (B = the global batch). Arguments: z float32 [B, latent_dim],
  real images float32 [B, S, S, C] in [-1, 1].

    g_forward(z)          G's forward pass -> images
    d_forward(x)          one D call on one batch, augmented as training augments it -> logits
    d_grads(x, z)         G's forward pass, then D's loss (GAN._d_loss) and its gradients
                          w.r.t. D -> (loss, gradients)
    g_grads(x, z)         G's forward pass, G's loss (GAN._g_loss, with D's current
                          weights) and its gradients w.r.t. G -> (loss, gradients)

  No optimizer update: a part leaves the weights as they are (spectral normalization's
  per-call kernel update apart, as in training).
  """
  g, d = gan.generator, gan.discriminator
  batch = labels.shape[0]

  @tf.function(jit_compile=jit)
  def g_forward(z):
    return g(z, labels, training=True)

  @tf.function(jit_compile=jit)
  def d_forward(x):
    return d(gan._augmented(x, 0), labels, training=True)

  @tf.function(jit_compile=jit)
  def d_grads(x, z):
    fake = tf.stop_gradient(g(z, labels, training=True))
    with tf.GradientTape() as tape:
      loss, _, _ = gan._d_loss(x, labels, fake, batch)
    return loss, gan_lib.gradients(gan.d_optimizer, tape, loss, d.trainable_variables)

  @tf.function(jit_compile=jit)
  def g_grads(x, z):
    with tf.GradientTape() as tape:
      loss, _ = gan._g_loss(x, labels, g(z, labels, training=True), batch)
    return loss, gan_lib.gradients(gan.g_optimizer, tape, loss, g.trainable_variables)

  return dict(g_forward=g_forward, d_forward=d_forward, d_grads=d_grads, g_grads=g_grads)


def breakdown(config: Config, setting: Setting, iters: int = 5) -> List[dict]:
  """Seconds of the parts of one train step and GFLOP/s of every conv layer's passes.

  Parts (step_parts, each its own tf.function with the setting's XLA mode): g_forward,
  d_forward (one batch), d_grads (D's loss on real and fake, gradients w.r.t. D), g_grads
  (G forward, D forward, gradients w.r.t. G), step (the train step, with the optimizers).
  d_grads + g_grads + the optimizers ~ step.
  """
  probe = StepProbe(config, setting)
  g, d = probe.gan.generator, probe.gan.discriminator
  real, labels = next(probe.iterator)
  b = config.batch_size
  z = tf.random.stateless_normal([b, config.latent_dim], seed=[probe.input_seed, 3])
  jit = setting.jit_compile
  fns = step_parts(probe.gan, labels, jit)
  args = dict(g_forward=(z,), d_forward=(real,), d_grads=(real, z), g_grads=(real, z))
  g_flops, d_flops = flops_lib.network_flops(g), flops_lib.network_flops(d)
  part_flops = dict(g_forward=g_flops.forward, d_forward=d_flops.forward,
                    d_grads=g_flops.forward + 6 * d_flops.forward - 2 * d_flops.first_layer,
                    g_grads=3 * g_flops.forward - g_flops.first_layer + 2 * d_flops.forward)
  rows = []
  for name, fn in fns.items():
    seconds = _time_fn(fn, args[name], iters)
    rows.append(dict(kind="part", part=name, seconds=round(seconds, 5),
                     gflop_per_s=round(part_flops[name] * b / seconds / 1e9, 2)))
  probe.warm_up(1)
  seconds = median([probe.time_once() for _ in range(iters)])
  rows.append(dict(kind="part", part="step", seconds=round(seconds, 5),
                   gflop_per_s=round(probe.flops_per_image * b / seconds / 1e9, 2)))
  rows += _layer_rows(g, d, b, iters, jit)
  for row in rows:
    row.update(setting.as_dict(), load_1m=load_average())
  return rows


def _layer_rows(g, d, batch, iters, jit):
  """GFLOP/s of each conv layer's forward, input-gradient and weight-gradient passes, alone.

  The gradients are taken with a given upstream gradient dy and without returning
  the output: a convolution's gradients do not need its output, so TF prunes the
  forward pass and each timing is one pass.
  """
  rows = []
  for net in (g, d):
    for layer in net._flatten_layers(include_self=False):
      f = flops_lib.layer_flops(layer)
      if not f or not hasattr(layer, "kernel"):
        continue
      shape = (batch,) + tuple(layer._build_shapes_dict["input_shape"][1:])
      x = tf.cast(tf.random.normal(shape), layer.compute_dtype)
      dy = tf.cast(tf.random.normal(layer.compute_output_shape(shape)), layer.compute_dtype)

      def make(wrt, layer=layer):
        @tf.function(jit_compile=jit)
        def fn(x, dy):
          with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
          if wrt == "forward":
            return y
          return tape.gradient(y, x if wrt == "input" else layer.kernel, output_gradients=dy)
        return fn

      for wrt in ("forward", "input", "kernel"):
        seconds = _time_fn(make(wrt), (x, dy), iters)
        rows.append(dict(kind="layer", network=net.name, layer=layer.name,
                         input_shape=list(shape), part=wrt, seconds=round(seconds, 6),
                         gflop_per_s=round(f * batch / seconds / 1e9, 2)))
  return rows
