"""train_and_evaluate(config, workdir): data, models, strategy, compile, restore, fit, export.

Workdir layout (everything a run produced):
  config.json        effective Config (identity fields are checked on resume)
  checkpoints/       tf.train.CheckpointManager (G, D, optimizers, step, fixed noise)
  tensorboard/       scalars, sample grids, config text
  samples/           step_NNNNNNN.png fixed-noise grids
  saved_model/       exported generator (uint8 images)
"""

import json
import math
import os
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from dcgan_tf import callbacks as callbacks_lib
from dcgan_tf import checkpoint as ckpt_lib
from dcgan_tf import config as config_lib
from dcgan_tf import data as data_lib
from dcgan_tf import distribute
from dcgan_tf import export as export_lib
from dcgan_tf import models
from dcgan_tf.gan import GAN


def make_optimizer(name, lr, beta_1, beta_2, loss_scale):
  if name == "adam":
    opt = keras.optimizers.Adam(lr, beta_1=beta_1, beta_2=beta_2)
  elif name == "rmsprop":
    opt = keras.optimizers.RMSprop(lr)
  else:
    raise ValueError(f"unknown optimizer {name!r}; valid: {', '.join(config_lib.OPTIMIZERS)}")
  # Keras only wraps `self.optimizer` automatically: wrap each of ours under float16.
  return keras.optimizers.LossScaleOptimizer(opt) if loss_scale else opt


def total_steps(config, num_examples):
  if config.train_steps:
    return config.train_steps
  if num_examples <= 0:
    raise ValueError("--epochs: the dataset's size is unknown; set --train_steps instead")
  return max(1, math.ceil(config.epochs * num_examples / config.batch_size))


def prepare_workdir(config, workdir):
  """Creates the workdir, checks a saved config against this one, and saves it."""
  try:
    os.makedirs(workdir, exist_ok=True)
  except OSError as e:
    raise ValueError(f"--workdir: cannot create {workdir!r}: {e.strerror}") from None
  path = os.path.join(workdir, "config.json")
  if os.path.isfile(path):
    saved = config_lib.load_json(path)
    conflicts = config_lib.identity_conflicts(saved, config)
    if conflicts:
      name, old, new = conflicts[0]
      raise ValueError(f"--{name}: {workdir} was trained with {name}={old!r}, not {new!r}; "
                       f"use another --workdir (or --overwrite to start afresh)")
  try:
    config_lib.save_json(config, path)
  except OSError as e:
    raise ValueError(f"--workdir: cannot write {path}: {e.strerror}") from None


def build_gan(config, num_classes, strategy, policy):
  """Models, optimizers and the compiled GAN, created under the strategy's scope."""
  with strategy.scope():
    generator, discriminator = models.build_models(config, num_classes)
    gan = GAN(generator, discriminator, config.latent_dim, seed=config.seed,
              label_smoothing=config.label_smoothing, d_steps=config.d_steps,
              recon_weight=config.recon_weight if num_classes else 0.0)
    loss_scale = policy == "mixed_float16"
    jit = {"auto": "auto", "on": True, "off": False}[config.jit_compile]
    gan.compile(
        d_optimizer=make_optimizer(config.d_optimizer, config.d_lr, config.beta_1, config.beta_2,
                                   loss_scale),
        g_optimizer=make_optimizer(config.g_optimizer, config.g_lr, config.beta_1, config.beta_2,
                                   loss_scale),
        jit_compile=jit, steps_per_execution=config.steps_per_execution)
    fixed_noise = tf.Variable(
        tf.random.stateless_normal([config.num_grid_samples, config.latent_dim],
                                   seed=[config.seed, 1_000_003]), trainable=False, name="fixed_noise")
  return gan, fixed_noise


def fixed_labels(num_samples, num_classes):
  """Labels for the sample grid: each row one class (None when unconditional)."""
  if not num_classes:
    return None
  cols = math.ceil(math.sqrt(num_samples))
  return tf.constant([(i // cols) % num_classes for i in range(num_samples)], tf.int32)


def train_and_evaluate(config: config_lib.Config, workdir: str) -> dict:
  """Trains (or resumes) to `total_steps`, then checkpoints, samples and exports.

  Returns a summary dict: step, start_step, total_steps, wall_s, images_per_s, paths.
  """
  config_lib.validate(config)
  t_start = time.perf_counter()
  keras.utils.set_random_seed(config.seed)
  policy = distribute.set_precision(config.precision)
  strategy = distribute.get_strategy(config.strategy)

  dataset, source = data_lib.make_dataset(config, batch_size=config.batch_size)
  num_classes = models.conditional_classes(config, source.num_classes)
  config = config.replace(num_classes=num_classes) if num_classes else config
  steps = total_steps(config, source.num_examples)
  prepare_workdir(config, workdir)
  logging.info("Config (precision policy %s):\n%s", policy,
               json.dumps(config.to_dict(), indent=2, sort_keys=True))

  gan, fixed_noise = build_gan(config, num_classes, strategy, policy)
  ckpt, manager = ckpt_lib.make_manager(gan, fixed_noise, workdir, config.keep_checkpoints)
  restored = ckpt_lib.restore_latest(ckpt, manager)
  start_step = int(gan.step.numpy())
  if restored:
    logging.info("Resumed from %s at step %d of %d", restored, start_step, steps)
  np.save(os.path.join(workdir, "fixed_noise.npy"), fixed_noise.numpy())

  writer = tf.summary.create_file_writer(os.path.join(workdir, "tensorboard"))
  with writer.as_default(step=start_step):
    tf.summary.text("config", "```\n" + json.dumps(config.to_dict(), indent=2, sort_keys=True)
                    + "\n```")
  logger = callbacks_lib.StepLogger(gan, writer, config.log_every, config.batch_size, steps)
  sampler = callbacks_lib.SampleGrid(gan, writer, fixed_noise, fixed_labels(
      config.num_grid_samples, num_classes), config.sample_every, os.path.join(workdir, "samples"))
  checkpointer = callbacks_lib.Checkpointer(gan, manager, config.checkpoint_every)

  remaining = steps - start_step
  t_fit = time.perf_counter()
  if remaining > 0:
    gan.fit(dataset, epochs=1, steps_per_epoch=remaining, verbose=0, shuffle=False,
            callbacks=[logger, sampler, checkpointer])
  else:
    logging.info("Already at step %d of %d: nothing to train", start_step, steps)
  fit_s = time.perf_counter() - t_fit
  final_step = int(gan.step.numpy())
  ckpt_path = checkpointer.save()
  grid_path = sampler.write()
  summary = dict(step=final_step, start_step=start_step, total_steps=steps, checkpoint=ckpt_path,
                 samples=grid_path, policy=policy,
                 images_per_s=(final_step - start_step) * config.batch_size / max(fit_s, 1e-9))
  if config.export:
    summary["saved_model"] = export_lib.export_generator(
        gan.generator, os.path.join(workdir, "saved_model"), config.latent_dim, config.image_size,
        config.channels, num_classes)
  summary["wall_s"] = time.perf_counter() - t_start
  logging.info("Done: %s", json.dumps(summary))
  return summary
