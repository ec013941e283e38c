"""Pictures from a trained workdir: sample grids, latent interpolations, latent arithmetic,
the first D layer's kernels and the loss curves. Each is written as a PNG and as a
TensorBoard image (WORKDIR/tensorboard/sample, at the checkpoint's step).

Also the shared "load a run" helpers: evaluate uses `load_run` and `generate` too.
"""

import contextlib
import dataclasses
import math
import os
import re
from typing import Optional

import numpy as np
import tensorflow as tf
from absl import logging

from dcgan_tf import checkpoint as ckpt_lib
from dcgan_tf import config as config_lib
from dcgan_tf import images as images_lib
from dcgan_tf import models

MODES = ("grid", "interpolate", "arithmetic", "kernels", "curves")


@dataclasses.dataclass
class Run:
  """A training workdir restored for inference."""
  workdir: str
  config: config_lib.Config
  generator: object
  discriminator: object
  num_classes: int  # > 0 only for the conditional variant
  step: int  # generator steps of the restored checkpoint
  checkpoint: str  # path prefix of the restored checkpoint
  bn_statistics: str = "checkpoint"  # where G's batch-norm moving statistics came from
  d_bn_missing: bool = False  # D's batch-norm statistics are not in the checkpoint


def resolve_checkpoint(workdir: str, checkpoint: str = "") -> str:
  """'' -> newest checkpoint; 'N' -> WORKDIR/checkpoints/ckpt-N; else a path prefix."""
  directory = ckpt_lib.checkpoint_dir(workdir)
  state = tf.train.get_checkpoint_state(directory)
  available = [os.path.basename(p) for p in (state.all_model_checkpoint_paths if state else [])]
  if not checkpoint:
    path = tf.train.latest_checkpoint(directory)
    if not path:
      raise FileNotFoundError(f"--workdir: no checkpoint in {directory}; train first")
    return path
  path = os.path.join(directory, f"ckpt-{checkpoint}") if re.fullmatch(r"\d+", checkpoint) \
      else checkpoint
  if not tf.io.gfile.exists(path + ".index"):
    raise FileNotFoundError(f"--checkpoint: no checkpoint {path!r}; available in {directory}: "
                            f"{', '.join(available) or 'none'} (give a step number or a path)")
  return path


def batch_norm_layers(model):
  import keras
  return [layer for layer in model._flatten_layers()
          if isinstance(layer, keras.layers.BatchNormalization)]


def has_initial_batch_norm_statistics(model) -> bool:
  """True when every BN layer still has moving mean 0 and variance 1 (never trained/restored)."""
  bns = batch_norm_layers(model)
  return bool(bns) and all(np.all(bn.moving_mean.numpy() == 0) and
                           np.all(bn.moving_variance.numpy() == 1) for bn in bns)


def reestimate_batch_norm(model, forward):
  """Sets every BN layer's moving statistics to the batch statistics of `forward()`, one
  call of `model` in training mode (momentum 0 for that call; use a large batch)."""
  bns = batch_norm_layers(model)
  momenta = [bn.momentum for bn in bns]
  for bn in bns:
    bn.momentum = 0.0
  try:
    forward()
  finally:
    for bn, momentum in zip(bns, momenta):
      bn.momentum = momentum


def load_run(workdir: str, checkpoint: str = "", bn_samples: int = 1024) -> Run:
  """Rebuilds G and D from WORKDIR/config.json and restores them from a checkpoint.

  Checkpoints written before checkpoint.py saved every network variable ("legacy")
  hold no batch-norm moving statistics: G's are then re-estimated from `bn_samples`
  samples (run.bn_statistics says which happened); D's are left to the caller
  (`run.d_bn_missing`), who has real images.
  """
  config = config_lib.load_workdir(workdir)
  num_classes = models.conditional_classes(config)
  generator, discriminator = models.build_models(config, num_classes)
  path = resolve_checkpoint(workdir, checkpoint)
  step = ckpt_lib.restore_networks(path, generator=generator, discriminator=discriminator)
  run = Run(workdir, config, generator, discriminator, num_classes, step, path,
            d_bn_missing=has_initial_batch_norm_statistics(discriminator))
  if has_initial_batch_norm_statistics(generator):
    z = latent(bn_samples, config.latent_dim, seed=12345)
    labels = random_labels(bn_samples, num_classes, seed=12345)
    reestimate_batch_norm(generator, lambda: (generator(z, labels, training=True) if num_classes
                                              else generator(z, training=True)))
    run.bn_statistics = f"re-estimated from {bn_samples} samples (not in the checkpoint)"
    logging.warning("%s has no batch-norm statistics for G: %s", path, run.bn_statistics)
  logging.info("Restored %s (step %d)", path, run.step)
  return run


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
    if run.num_classes:
      out.append(run.generator(batch, np.asarray(labels[start:start + batch_size], np.int32),
                               training=False))
    else:
      out.append(run.generator(batch, training=False))
  return np.concatenate([np.asarray(o, np.float32) for o in out])


def sample(run: Run, num: int, seed: int) -> np.ndarray:
  """`num` random samples (uniform labels when conditional), float32 [-1, 1]."""
  return generate(run, latent(num, run.config.latent_dim, seed),
                  random_labels(num, run.num_classes, seed))


@contextlib.contextmanager
def label_codes(generator, codes):
  """Within the block, G's label embedding returns `codes` [B, E] instead of a table lookup.

  Interpolating between classes needs G on blended embeddings; G's public call only
  takes integer labels. The instance attribute shadows LabelEmbedding.call.
  """
  layer = generator.label_embedding
  layer.call = lambda labels: tf.convert_to_tensor(codes, tf.float32)
  try:
    yield
  finally:
    del layer.call


def lerp(a, b, t):
  return (1 - t) * a + t * b


def slerp(a, b, t):
  """Spherical interpolation between a [D] and b [D] at t in [0, 1] (White 2016).

  Gaussian z concentrate on a sphere of radius ~sqrt(D); linear midpoints fall inside
  it (norm ~ sqrt(D / 2)), where G saw no training data.
  """
  cos = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12)
  omega = np.arccos(np.clip(cos, -1.0, 1.0))
  if omega < 1e-6:
    return lerp(a, b, t)
  return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def grid_labels(num, num_classes):
  """Row r of the grid shows class r % num_classes (None when unconditional)."""
  if not num_classes:
    return None
  cols = math.ceil(math.sqrt(num))
  return np.array([(i // cols) % num_classes for i in range(num)], np.int32)


def grid(run: Run, num=64, seed=0):
  """Returns (uint8 tile, z [num, latent], labels [num] or None)."""
  z = latent(num, run.config.latent_dim, seed)
  labels = grid_labels(num, run.num_classes)
  return _tile(generate(run, z, labels)), z, labels


def interpolation(run: Run, rows=8, steps=10, seed=0, spherical=True):
  """`rows` rows of `steps` images. Unconditional: z_a -> z_b (random pairs). Conditional:
  fixed z per row, label embedding class r -> class r+1 (class-to-class rows)."""
  mix = slerp if spherical else lerp
  ts = np.linspace(0.0, 1.0, steps)
  ends = latent(2 * rows, run.config.latent_dim, seed)
  if not run.num_classes:
    z = np.stack([mix(ends[2 * r], ends[2 * r + 1], t) for r in range(rows) for t in ts])
    return _tile(generate(run, z.astype(np.float32)), rows)
  table = np.asarray(run.generator.label_embedding.embed.embeddings.numpy())
  images = []
  for r in range(rows):
    a, b = r % run.num_classes, (r + 1) % run.num_classes
    codes = np.stack([lerp(table[a], table[b], t) for t in ts])
    with label_codes(run.generator, codes):
      images.append(generate(run, np.repeat(ends[r:r + 1], steps, 0), np.zeros(steps, np.int32)))
  return _tile(np.concatenate(images), rows)


def parse_groups(text):
  """'0,1,2:3,4,5:6,7,8' -> [[0, 1, 2], [3, 4, 5], [6, 7, 8]] (groups A, B, C)."""
  try:
    groups = [[int(i) for i in part.split(",")] for part in text.split(":")]
  except ValueError:
    groups = []
  if len(groups) != 3 or not all(groups):
    raise ValueError(f"--groups: want three comma-separated index lists joined by ':' "
                     f"(A:B:C), e.g. 0,1,2:3,4,5:6,7,8; got {text!r}")
  return groups


def arithmetic(run: Run, rows=4, seed=0, group_size=3, z_from="", groups="", noise=0.25):
  """Latent arithmetic A - B + C on group means (the DCGAN paper, section 6.3).

  Each row: A's samples and their mean-z image, the same for B and C, then
  G(mean_A - mean_B + mean_C) and `group_size - 1` copies with uniform noise in
  [-noise, noise] added to that z. Groups are random unless `z_from` (an .npz
  written by the grid mode) and `groups` pick the grid's images by index (one row).
  Conditional G: each group draws one label; the results use C's label.
  """
  latent_dim = run.config.latent_dim
  rng = np.random.default_rng(seed)
  if z_from:
    if not os.path.isfile(z_from):
      raise FileNotFoundError(f"--z_from: no file {z_from!r}; write one with --mode=grid")
    saved = np.load(z_from)
    index = parse_groups(groups)
    bad = [i for g in index for i in g if not 0 <= i < len(saved["z"])]
    if bad:
      raise ValueError(f"--groups: indices {bad} out of range for the {len(saved['z'])} z in "
                       f"{z_from}")
    zs = [[saved["z"][index_group] for index_group in index]]
    labels = [[int(saved["labels"][g[0]]) if "labels" in saved and run.num_classes else 0
               for g in index]]
  else:
    zs = [[rng.standard_normal((group_size, latent_dim)).astype(np.float32) for _ in range(3)]
          for _ in range(rows)]
    labels = [list(rng.integers(0, max(run.num_classes, 1), 3)) for _ in range(rows)]
  images = []
  for (za, zb, zc), (la, lb, lc) in zip(zs, labels):
    means = [g.mean(axis=0, keepdims=True) for g in (za, zb, zc)]
    result = means[0] - means[1] + means[2]
    jitter = rng.uniform(-noise, noise, (len(za) - 1, latent_dim)).astype(np.float32)
    row_z = np.concatenate([za, means[0], zb, means[1], zc, means[2], result, result + jitter])
    row_labels = np.repeat([la, lb, lc, lc], [len(za) + 1, len(zb) + 1, len(zc) + 1, len(za)])
    images.append(generate(run, row_z, row_labels.astype(np.int32)))
  return _tile(np.concatenate(images), len(images))


def _tile(images, rows=None):
  return images_lib.grid(images_lib.to_uint8(images).numpy(), rows=rows)


def write_picture(workdir, image, out, tag, step):
  """uint8 [H, W, C] -> PNG at `out` and a TensorBoard image at `step`. Returns `out`."""
  images_lib.save_png(image, out)
  writer = tf.summary.create_file_writer(os.path.join(workdir, "tensorboard", "sample"))
  with writer.as_default():
    tf.summary.image(tag, image[None], step=step)
  writer.close()
  return out


def make_picture(workdir, mode, out, num=0, seed=0, steps=10, spherical=True, checkpoint="",
                 z_from="", groups=""):
  """Runs one mode and writes its picture. Returns a summary dict (mode, path, step, ...)."""
  if mode not in MODES:
    raise ValueError(f"--mode: got {mode!r}; valid: {', '.join(MODES)}")
  if not out.lower().endswith(".png"):
    raise ValueError(f"--out: want a .png file name, got {out!r}")
  if num < 0 or steps < 2:
    raise ValueError(f"--num must be >= 0 and --steps >= 2, got {num} and {steps}")
  summary = dict(mode=mode, out=out)
  if mode == "curves":
    from dcgan_tf import plots
    step = _last_step(workdir)
    image = plots.curves_image(workdir, title=os.path.basename(os.path.normpath(workdir)))
  else:
    run = load_run(workdir, checkpoint)
    step = run.step
    summary["checkpoint"] = run.checkpoint
    if mode == "grid":
      image, z, labels = grid(run, num or 64, seed)
      npz = os.path.splitext(out)[0] + ".npz"
      np.savez(npz, z=z, **({"labels": labels} if labels is not None else {}))
      summary["z_file"] = npz  # input of --mode=arithmetic --z_from
    elif mode == "interpolate":
      image = interpolation(run, num or 8, steps, seed, spherical)
      summary["interpolation"] = "spherical" if spherical else "linear"
    elif mode == "arithmetic":
      image = arithmetic(run, num or 4, seed, z_from=z_from, groups=groups)
    else:
      from dcgan_tf import plots
      image = plots.kernels_image(run.discriminator)
  summary.update(step=step, shape=list(image.shape))
  write_picture(workdir, image, out, f"sample/{mode}", step)
  return summary


def _last_step(workdir):
  path = tf.train.latest_checkpoint(ckpt_lib.checkpoint_dir(workdir))
  return int(path.rsplit("-", 1)[1]) if path else 0
