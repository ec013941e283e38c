"""A trained run restored for inference: evaluate, sample and export start here.

load_run rebuilds G (and D) from the workdir's config.json and restores them from a
checkpoint by name (checkpoints.py); load_export takes G from an exported SavedModel
instead (what is served), checked against the run by the export's metadata. Noise and labels
are drawn from a seed (the "sample_noise" and "sample_labels" streams, seeds.py), so a picture
or an evaluation is reproducible from its flags.
"""

import dataclasses
import os
from typing import Optional

import numpy as np
import tensorflow as tf
from absl import logging

from dcgan_tf import config as config_lib
from dcgan_tf import devices
from dcgan_tf import models
from dcgan_tf import noise
from dcgan_tf import seeds
from dcgan_tf import checkpoints
from dcgan_tf.errors import UserError
from dcgan_tf.workdir import Workdir


@dataclasses.dataclass
class Run:
  """A training workdir restored for inference."""
  workdir: Workdir
  config: config_lib.Config
  generator: object
  discriminator: object  # None when load_run(discriminator=False)
  step: int  # generator steps of the restored checkpoint
  checkpoint: str  # path prefix of the restored checkpoint
  ema: bool = False  # `generator` holds the EMA weights (train/ema.py)

  @property
  def num_classes(self) -> int:
    """Label classes of a conditional run's G (config.resolve_classes); 0 otherwise."""
    return self.config.num_classes


def load_run(workdir: str, checkpoint: str = "", discriminator: bool = True,
             use_ema: bool = True, saved_model: str = "") -> Run:
  """Rebuilds G (and D) from WORKDIR/config.json and restores them from a checkpoint.

  checkpoint: '' = newest, 'N' = step N, else a path prefix (checkpoints.find).
  use_ema: G gets the EMA generator's weights when the run has one (--ema_decay > 0),
  else (or with use_ema=False) the trained G's.
  saved_model: instead, G is that export of the run (load_export) and there is no D.
  """
  if saved_model:
    if checkpoint:
      raise UserError("give saved_model or checkpoint, not both (an export has one step)",
                      "saved_model")
    return load_export(workdir, saved_model)
  wd = Workdir(workdir)
  config = wd.load_config()
  path = checkpoints.find(wd, checkpoint)
  ema = use_ema and config.ema_decay > 0
  with devices.dtype_policy("float32"):  # inference is float32 whatever the run trained in
    networks = {"ema_generator" if ema else "generator":
                models.build_generator(config)}
    if discriminator:
      networks["discriminator"] = models.build_discriminator(config)
  step = checkpoints.restore_networks(path, **networks)
  generator = networks.pop("ema_generator" if ema else "generator")
  logging.info("Restored %s (step %d, %s generator)", path, step, "EMA" if ema else "trained")
  return Run(workdir=wd, config=config, generator=generator,
             discriminator=networks.get("discriminator"), step=step, checkpoint=path, ema=ema)


class ExportedGenerator:
  """A SavedModel's serving_default as G: (z, labels, training) -> float32 [-1, 1].

  The export returns uint8; mapped back to [-1, 1] exactly (u / 127.5 - 1), so
  images.to_uint8 of the result is the served image.
  """

  def __init__(self, path: str, num_classes: int, max_batch: int):
    self.serve = tf.saved_model.load(path).signatures["serving_default"]
    self.num_classes, self.max_batch = num_classes, max_batch

  def __call__(self, z, labels=None, training=False):
    del training  # the export is inference-only
    out = []
    for start in range(0, len(z), self.max_batch):  # the export refuses larger requests
      inputs = dict(z=tf.convert_to_tensor(z[start:start + self.max_batch], tf.float32))
      if self.num_classes:
        inputs["labels"] = tf.convert_to_tensor(labels[start:start + self.max_batch], tf.int32)
      out.append(self.serve(**inputs)["images"])
    return tf.cast(tf.concat(out, 0), tf.float32) / 127.5 - 1.0


# Metadata fields that must equal the run's for an export to stand in for its G.
_MATCHED = ("dataset", "variant", "image_size", "channels", "latent_dim", "num_classes")


def load_export(workdir: str, saved_model: str) -> Run:
  """The run of `workdir` with G = the SavedModel at `saved_model` (no D). UserError (field
  saved_model) when it is not a dcgan_tf export of this run's model."""
  from dcgan_tf.export import metadata  # the export's reader; no TensorFlow work at import
  wd = Workdir(workdir)
  config = wd.load_config()
  try:
    info = metadata.read(saved_model)
  except UserError as e:
    raise UserError(e.message, "saved_model") from None
  if info.get("format", "savedmodel") != "savedmodel":
    raise UserError(f"{saved_model} is a {info['format']} export; give a SavedModel folder",
                    "saved_model")
  expected = {k: getattr(config, k) for k in _MATCHED}
  wrong = [k for k, v in expected.items() if info.get(k) != v]
  if wrong:
    k = wrong[0]
    raise UserError(f"{saved_model} has {k}={info.get(k)!r}, the run in {workdir} "
                    f"{k}={expected[k]!r}; export this run's generator", "saved_model")
  generator = ExportedGenerator(saved_model, config.num_classes, info["max_batch"])
  logging.info("Loaded the export %s (step %d, %s generator)", saved_model, info["step"],
               info["generator"])
  return Run(workdir=wd, config=config, generator=generator, discriminator=None,
             step=info["step"], checkpoint=os.path.abspath(saved_model),
             ema=info["generator"] == "ema")


def latent(num: int, latent_dim: int, seed: int) -> np.ndarray:
  """z ~ N(0, 1), float32 [num, latent_dim] (the trainer's noise distribution): the z the
  export's generate(num, seed) draws (noise.py)."""
  return noise.normal(num, latent_dim, seed).numpy()


def random_labels(num: int, num_classes: int, seed: int) -> Optional[np.ndarray]:
  """Uniform int32 labels [num] in [0, num_classes), or None when unconditional; a stream
  of their own, not latent()'s."""
  if not num_classes:
    return None
  rng = np.random.default_rng(seeds.derive(seed, "sample_labels"))
  return rng.integers(0, num_classes, num).astype(np.int32)


def generate(run: Run, z, labels=None, batch_size=256) -> np.ndarray:
  """z [N, latent] (+ int labels [N]) -> float32 images [N, S, S, C] in [-1, 1]."""
  out = []
  for start in range(0, len(z), batch_size):
    batch = tf.convert_to_tensor(z[start:start + batch_size], tf.float32)
    batch_labels = None if labels is None else np.asarray(labels[start:start + batch_size],
                                                          np.int32)
    out.append(np.asarray(run.generator(batch, batch_labels, training=False), np.float32))
  return np.concatenate(out)
