"""Pictures from a trained workdir: sample grids, latent interpolations, latent arithmetic,
the first D layer's kernels, the loss curves, truncation rows and nearest training images. Each is written as a PNG and as a
TensorBoard image (WORKDIR/tensorboard/sample, at the checkpoint's step).
"""

import contextlib
import os

import numpy as np
import tensorflow as tf

from dcgan_tf import checkpoints
from dcgan_tf import images as images_lib
from dcgan_tf import inference
from dcgan_tf import noise
from dcgan_tf import seeds
from dcgan_tf.errors import UserError
from dcgan_tf.inference import Run, generate, latent
from dcgan_tf.sample import plots
from dcgan_tf.sample.options import SampleOptions, truncations, validate
from dcgan_tf.workdir import Workdir, step_of


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


def truncated_latent(num, latent_dim, seed, truncation):
  """z [num, latent_dim] within [-truncation, truncation]: the export's generate_truncated."""
  return noise.normal(num, latent_dim, seed, tf.constant(truncation, tf.float32)).numpy()


def grid(run: Run, num=64, seed=0, truncation=None):
  """Returns (uint8 tile, z [num, latent], labels [num] or None)."""
  z = (latent(num, run.config.latent_dim, seed) if truncation is None else
       truncated_latent(num, run.config.latent_dim, seed, truncation))
  labels = images_lib.grid_labels(num, run.num_classes)
  return _tile(generate(run, z, labels)), z, labels


def truncation_rows(run: Run, values, num=8, seed=0):
  """One row of `num` samples per truncation t in `values`; column c has the same uniforms
  (noise.py) in every row, and for a conditional G the class c mod num_classes."""
  labels = (np.arange(num, dtype=np.int32) % run.num_classes) if run.num_classes else None
  return _tile(np.concatenate([
      generate(run, truncated_latent(num, run.config.latent_dim, seed, t), labels)
      for t in values]), len(values))


def interpolation(run: Run, rows=8, steps=10, seed=0, spherical=True):
  """`rows` rows of `steps` images. Unconditional: z_a -> z_b (random pairs). Conditional:
  fixed z per row, label embedding class r -> class r+1 (class-to-class rows)."""
  mix = slerp if spherical else lerp
  ts = np.linspace(0.0, 1.0, steps)
  ends = latent(2 * rows, run.config.latent_dim, seed)
  if not run.num_classes:
    z = np.stack([mix(ends[2 * r], ends[2 * r + 1], t) for r in range(rows) for t in ts])
    return _tile(generate(run, z.astype(np.float32)), rows)
  if isinstance(run.generator, inference.ExportedGenerator):
    raise UserError("class-to-class interpolation needs G's label embedding, which an export "
                    "does not expose; use a checkpoint", "saved_model")
  if run.generator.label_embedding is None:  # cdcgan_projection: labels act in batch norm
    raise UserError(f"class-to-class interpolation blends cdcgan's label embedding; "
                    f"variant={run.config.variant} has none (try mode=grid)", "mode")
  table = np.asarray(run.generator.label_embedding.embed.embeddings.numpy())
  images = []
  for r in range(rows):
    a, b = r % run.num_classes, (r + 1) % run.num_classes
    codes = np.stack([lerp(table[a], table[b], t) for t in ts])
    with label_codes(run.generator, codes):
      images.append(generate(run, np.repeat(ends[r:r + 1], steps, 0), np.zeros(steps, np.int32)))
  return _tile(np.concatenate(images), rows)


def nearest_rows(run: Run, num=8, seed=0, neighbours=3):
  """`num` rows: a sample, then its `neighbours` nearest training images by pixel distance
  (the run's whole training split; evaluate's memorization measures the same in features).
  Returns (uint8 tile, the distances [num, neighbours] in [-1, 1] pixel units)."""
  from dcgan_tf.evaluate import context  # the evaluation's image loader (seeded, whole split)
  from dcgan_tf.evaluate.metrics import manifold
  z = latent(num, run.config.latent_dim, seed)
  samples = generate(run, z, images_lib.grid_labels(num, run.num_classes))
  train = context.load_images(run.config, None, seed, as_trained=False)[0]  # as stored
  index, distances = manifold.nearest(train.reshape(len(train), -1),
                                      samples.reshape(num, -1), neighbours)
  rows = [np.concatenate([samples[i:i + 1], train[index[i]]]) for i in range(num)]
  return _tile(np.concatenate(rows), num), distances


def parse_groups(text):
  """'0,1,2:3,4,5:6,7,8' -> [[0, 1, 2], [3, 4, 5], [6, 7, 8]] (groups A, B, C)."""
  try:
    groups = [[int(i) for i in part.split(",")] for part in text.split(":")]
  except ValueError:
    groups = []
  if len(groups) != 3 or not all(groups):
    raise UserError(f"want three comma-separated index lists joined by ':' (A:B:C), e.g. "
                    f"0,1,2:3,4,5:6,7,8; got {text!r}", "groups")
  return groups


def arithmetic(run: Run, rows=4, seed=0, group_size=3, z_from="", groups="", noise=0.25):
  """Latent arithmetic A - B + C on group means (the DCGAN paper, section 6.3).

  Each row: A's samples and their mean-z image, the same for B and C, then
  G(mean_A - mean_B + mean_C) and `group_size - 1` copies with uniform noise in
  [-noise, noise] added to that z. Groups are random unless `z_from` (an .npz
  written by the grid mode) and `groups` pick the grid's images by index (one row).
  Conditional G: each group draws one label; the results use C's label. Groups, labels
  and noise: the "arithmetic" stream of `seed` (seeds.py).
  """
  latent_dim = run.config.latent_dim
  rng = np.random.default_rng(seeds.derive(seed, "arithmetic"))
  if z_from:
    if not os.path.isfile(z_from):
      raise UserError(f"no file {z_from!r}; write one with mode=grid", "z_from")
    saved = np.load(z_from)
    index = parse_groups(groups)
    bad = [i for g in index for i in g if not 0 <= i < len(saved["z"])]
    if bad:
      raise UserError(f"indices {bad} out of range for the {len(saved['z'])} z in {z_from}",
                      "groups")
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


def write_picture(workdir: Workdir, image, out, tag, step):
  """uint8 [H, W, C] -> PNG at `out` and a TensorBoard image at `step`. Returns `out`."""
  images_lib.save_png(image, out)
  writer = tf.summary.create_file_writer(os.path.join(workdir.tensorboard_dir, "sample"))
  with writer.as_default():
    tf.summary.image(tag, image[None], step=step)
  writer.close()
  return out


def make_picture(options: SampleOptions) -> dict:
  """Runs one mode and writes its picture. Returns a summary dict (mode, path, step, ...)."""
  o = options
  validate(o)
  summary = dict(mode=o.mode, out=o.out)
  workdir = Workdir(o.workdir)
  if o.mode == "curves":
    available = checkpoints.list_checkpoints(workdir)
    step = step_of(available[0]) if available else 0
    image = plots.curves_image(workdir, title=os.path.basename(os.path.normpath(o.workdir)))
  else:
    run = inference.load_run(o.workdir, o.checkpoint, use_ema=o.use_ema,
                             saved_model=o.saved_model)
    step = run.step
    summary["checkpoint"] = run.checkpoint
    if o.mode == "grid":
      values = truncations(o)
      image, z, labels = grid(run, o.num or 64, o.seed, values[0] if values else None)
      if values:
        summary["truncation"] = values[0]
      npz = os.path.splitext(o.out)[0] + ".npz"
      np.savez(npz, z=z, **({"labels": labels} if labels is not None else {}))
      summary["z_file"] = npz  # input of --mode=arithmetic --z_from
    elif o.mode == "interpolate":
      image = interpolation(run, o.num or 8, o.steps, o.seed, spherical=not o.lerp)
      summary["interpolation"] = "linear" if o.lerp else "spherical"
    elif o.mode == "arithmetic":
      image = arithmetic(run, o.num or 4, o.seed, z_from=o.z_from, groups=o.groups)
    elif o.mode == "nearest":
      image, distances = nearest_rows(run, o.num or 8, o.seed)
      summary["nearest_distances"] = np.round(distances, 4).tolist()
    elif o.mode == "truncation":
      summary["truncation"] = truncations(o)
      image = truncation_rows(run, summary["truncation"], o.num or 8, o.seed)
    else:
      if run.discriminator is None:
        raise UserError("mode=kernels draws D's filters; an export holds G only; use a "
                        "checkpoint", "saved_model")
      image = plots.kernels_image(run.discriminator)
  summary.update(step=step, shape=list(image.shape))
  write_picture(workdir, image, o.out, f"sample/{o.mode}", step)
  return summary
