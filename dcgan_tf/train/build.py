"""What a run trains: the compiled GAN (networks, optimizers, XLA choice), its fixed
noise, and its length in generator steps."""

import math

import keras
import tensorflow as tf

from dcgan_tf import devices
from dcgan_tf import models
from dcgan_tf import seeds
from dcgan_tf import config as config_lib
from dcgan_tf.config import OPTIMIZERS, Config
from dcgan_tf.errors import UserError
from dcgan_tf.gan import GAN
from dcgan_tf.train import ema


def make_optimizer(name, lr, beta_1, beta_2, loss_scale):
  """Adam or RMSprop; wrapped in a LossScaleOptimizer under mixed_float16 (loss_scale)."""
  if name == "adam":
    opt = keras.optimizers.Adam(lr, beta_1=beta_1, beta_2=beta_2)
  elif name == "rmsprop":
    opt = keras.optimizers.RMSprop(lr)
  else:
    raise UserError(f"unknown optimizer {name!r}; valid: {', '.join(OPTIMIZERS)}")
  # Keras only wraps `self.optimizer` automatically: wrap each of ours under float16.
  return keras.optimizers.LossScaleOptimizer(opt) if loss_scale else opt


def total_steps(config: Config, num_examples: int) -> int:
  """train_steps, or ceil(epochs * examples / batch) when it is 0."""
  if config.train_steps:
    return config.train_steps
  if num_examples <= 0:
    raise UserError("the dataset's size is unknown; set train_steps instead", "epochs")
  return max(1, math.ceil(config.epochs * num_examples / config.batch_size))


def fixed_noise(config: Config) -> tf.Variable:
  """z of the sample grids, float32 [num_grid_samples, latent_dim]: the "grid_noise" stream of
  --seed (seeds.py), and checkpointed (a resumed run draws the same grid)."""
  seed = [seeds.derive(config.seed, "grid_noise"), 0]
  return tf.Variable(tf.random.stateless_normal([config.num_grid_samples, config.latent_dim],
                                                seed=seed), trainable=False, name="fixed_noise")


def build_gan(config: Config, strategy, policy: str):
  """(compiled GAN, fixed noise) of `config` (its class count resolved:
  config.resolve_classes), created under the strategy's scope.

  policy: the precision policy already set (devices.set_precision); mixed_float16
  wraps both optimizers in loss scaling. train/setup.make_gan sets it and calls this.
  """
  with strategy.scope():
    generator, discriminator = models.build_models(config)
    ema_generator = None
    if config.ema_decay > 0:  # G's architecture; starts as G's copy (train/ema.py)
      ema_generator = models.build_generator(config)
      models.copy_weights(generator, ema_generator)
    gan = GAN(generator, discriminator, config.latent_dim, seed=config.seed,
              label_smoothing=config.label_smoothing, d_steps=config.d_steps,
              recon_weight=config.recon_weight if config.num_classes else 0.0, loss=config.loss,
              augment=config_lib.augment_policies(config.augment)[0],
              augment_p=config_lib.augment_probability(config.augment_p),
              ema_generator=ema_generator, ema_decay=config.ema_decay,
              ema_rampup=config.ema_rampup)
    loss_scale = policy == "mixed_float16"
    gan.compile(
        d_optimizer=make_optimizer(config.d_optimizer, config.d_lr, config.beta_1, config.beta_2,
                                   loss_scale),
        g_optimizer=make_optimizer(config.g_optimizer, config.g_lr, config.beta_1, config.beta_2,
                                   loss_scale),
        jit_compile=devices.resolve_jit_compile(config.jit_compile, strategy),
        steps_per_execution=devices.resolve_steps_per_execution(config.steps_per_execution,
                                                                config))
    noise = fixed_noise(config)
  return gan, noise
