"""A trained run restored for inference: evaluate, sample and export start here.

load_run rebuilds G (and D) from the workdir's config.json and restores them from a
checkpoint by name (checkpoints.py). Noise and labels are drawn with numpy
from a seed, so a picture or an evaluation is reproducible from its flags.
"""

import dataclasses
from typing import Optional

import numpy as np
import tensorflow as tf
from absl import logging

from dcgan_tf import config as config_lib
from dcgan_tf import devices
from dcgan_tf import models
from dcgan_tf import checkpoints
from dcgan_tf.workdir import Workdir


@dataclasses.dataclass
class Run:
  """A training workdir restored for inference."""
  workdir: Workdir
  config: config_lib.Config
  generator: object
  discriminator: object  # None when load_run(discriminator=False)
  num_classes: int  # > 0 only for the conditional variant
  step: int  # generator steps of the restored checkpoint
  checkpoint: str  # path prefix of the restored checkpoint
  ema: bool = False  # `generator` holds the EMA weights (train/ema.py)


def load_run(workdir: str, checkpoint: str = "", discriminator: bool = True,
             use_ema: bool = True) -> Run:
  """Rebuilds G (and D) from WORKDIR/config.json and restores them from a checkpoint.

  checkpoint: '' = newest, 'N' = step N, else a path prefix (Workdir.checkpoint).
  use_ema: G gets the EMA generator's weights when the run has one (--ema_decay > 0),
  else (or with use_ema=False) the trained G's.
  """
  wd = Workdir(workdir)
  config = wd.load_config()
  num_classes = models.conditional_classes(config)
  path = wd.checkpoint(checkpoint)
  ema = use_ema and config.ema_decay > 0
  with devices.dtype_policy("float32"):  # inference is float32 whatever the run trained in
    networks = {"ema_generator" if ema else "generator":
                models.build_generator(config, num_classes)}
    if discriminator:
      networks["discriminator"] = models.build_discriminator(config, num_classes)
  step = checkpoints.restore_networks(path, **networks)
  generator = networks.pop("ema_generator" if ema else "generator")
  logging.info("Restored %s (step %d, %s generator)", path, step, "EMA" if ema else "trained")
  return Run(wd, config, generator, networks.get("discriminator"), num_classes, step, path, ema)


def latent(num: int, latent_dim: int, seed: int) -> np.ndarray:
  """z ~ N(0, 1), float32 [num, latent_dim] (the trainer's noise distribution)."""
  return np.random.default_rng(seed).standard_normal((num, latent_dim)).astype(np.float32)


def random_labels(num: int, num_classes: int, seed: int) -> Optional[np.ndarray]:
  """Uniform int32 labels [num] in [0, num_classes), or None when unconditional."""
  if not num_classes:
    return None
  return np.random.default_rng(seed + 7919).integers(0, num_classes, num).astype(np.int32)


def generate(run: Run, z, labels=None, batch_size=256) -> np.ndarray:
  """z [N, latent] (+ int labels [N]) -> float32 images [N, S, S, C] in [-1, 1]."""
  out = []
  for start in range(0, len(z), batch_size):
    batch = tf.convert_to_tensor(z[start:start + batch_size], tf.float32)
    batch_labels = None if labels is None else np.asarray(labels[start:start + batch_size],
                                                          np.int32)
    out.append(np.asarray(run.generator(batch, batch_labels, training=False), np.float32))
  return np.concatenate(out)


def sample(run: Run, num: int, seed: int) -> np.ndarray:
  """`num` random samples (uniform labels when conditional), float32 [-1, 1]."""
  return generate(run, latent(num, run.config.latent_dim, seed),
                  random_labels(num, run.num_classes, seed))
