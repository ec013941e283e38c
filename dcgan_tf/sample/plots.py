"""Pictures of a run that are not samples: loss curves and the first D layer's kernels.

Curves are read from TensorBoard event files (what the trainer's StepLogger and
evaluate's writer logged) and drawn with matplotlib (Agg backend: no display needed).
"""

import collections
import io
import math
import os

import numpy as np
import tensorflow as tf

from dcgan_tf import images as images_lib
from dcgan_tf.errors import UserError
from dcgan_tf.workdir import Workdir

# Panels of the curves figure: (title, tags); a panel is drawn when any tag has data.
CURVE_PANELS = (("losses", ("d_loss", "g_loss")),
                ("discriminator outputs (sigmoid D, in [0, 1])", ("d_real", "d_fake")),
                ("adaptive augmentation: p and r_t = E[sign D(x_real)]",
                 ("augment_p", "d_real_sign")))
# Evaluation scalars (evaluate.evaluator.scalars tags, first path part) where higher is better.
HIGHER_IS_BETTER = ("svm", "is", "precision", "recall", "coverage", "class_accuracy")


def read_scalars(logdir):
  """Scalars of the event files directly in `logdir` -> {tag: (steps [N], values [N])}.

  Reads TF2 tensor summaries (tf.summary.scalar) and TF1 simple_value ones; when a
  resumed run logged a step twice, the later event wins.
  """
  series = collections.defaultdict(dict)
  files = sorted(f for f in tf.io.gfile.listdir(logdir) if "tfevents" in f) \
      if tf.io.gfile.isdir(logdir) else []
  for name in files:
    for record in tf.data.TFRecordDataset(os.path.join(logdir, name)):
      event = tf.compat.v1.Event.FromString(record.numpy())
      for value in event.summary.value:
        if value.HasField("tensor"):
          array = tf.make_ndarray(value.tensor)
          if array.shape != () or array.dtype.kind not in "fiu":
            continue  # images, text, histograms
          number = float(array)
        elif value.HasField("simple_value"):
          number = float(value.simple_value)
        else:
          continue
        series[value.tag][int(event.step)] = number
  return {tag: (np.array(sorted(points)), np.array([points[s] for s in sorted(points)]))
          for tag, points in series.items()}


def _figure_to_png(fig):
  buffer = io.BytesIO()
  fig.savefig(buffer, format="png", dpi=100)
  return tf.io.decode_png(buffer.getvalue(), channels=3).numpy()


def curves_image(workdir: Workdir, title=""):
  """Training curves of WORKDIR/tensorboard (+ an eval panel from tensorboard/eval).

  Returns a uint8 [H, W, 3] image. Raises UserError when there is no scalar.
  """
  import matplotlib
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt

  train = read_scalars(workdir.tensorboard_dir)
  evals = read_scalars(os.path.join(workdir.tensorboard_dir, "eval"))
  panels = [(name, {t: train[t] for t in tags if t in train}) for name, tags in CURVE_PANELS]
  higher = {t: v for t, v in evals.items() if t.split("/")[0] in HIGHER_IS_BETTER}
  panels.append(("evaluation: distances (lower is better, log)",
                 {t: v for t, v in evals.items() if t not in higher and v[1].min() > 0}))
  panels.append(("evaluation: accuracy / score (higher is better)", higher))
  panels = [(name, data) for name, data in panels if data]
  if not panels:
    raise UserError(f"no scalar summaries in {workdir.tensorboard_dir}; train first", "workdir")
  fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
  for ax, (name, data) in zip(axes[0], panels):
    for tag, (steps, values) in sorted(data.items()):
      ax.plot(steps, values, marker="o" if len(steps) <= 12 else None, markersize=3, label=tag)
    if "log" in name:
      ax.set_yscale("log")  # FID, KID, SWD and accuracies differ by orders of magnitude
    ax.set_title(name)
    ax.set_xlabel("generator step")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
  if title:
    fig.suptitle(title)
  fig.tight_layout()
  image = _figure_to_png(fig)
  plt.close(fig)
  return image


def first_layer_kernel(discriminator):
  """D's first kernel: conv [kh, kw, C_in, F] as is; dense [S*S*C, F] reshaped to [S, S, C, F]."""
  for variable in discriminator.weights:
    if variable.name == "kernel":  # build order: the input layer's kernel comes first
      kernel = np.asarray(variable.numpy(), np.float32)
      if kernel.ndim == 2:
        s, c = discriminator.image_size, discriminator.channels
        kernel = kernel.reshape(s, s, c, -1)
      return kernel
  raise UserError("the discriminator has no kernel weights to draw", "mode")


def kernels_image(discriminator, max_filters=64, min_side=32):
  """The first D layer's filters as one uint8 grid [H, W, 1|3].

  Each filter is scaled by its own max |w| so 0 is mid-gray (128) and the extremes are
  black/white, then enlarged (nearest neighbour) to at least `min_side` pixels. Only
  the image channels are shown (a conditional D's label channels are dropped).
  """
  kernel = first_layer_kernel(discriminator)
  channels = discriminator.channels if kernel.shape[2] >= discriminator.channels else 1
  kernel = kernel[:, :, :channels, :max_filters]  # [kh, kw, C, F]
  filters = np.transpose(kernel, (3, 0, 1, 2))  # [F, kh, kw, C]
  scale = np.abs(filters).max(axis=(1, 2, 3), keepdims=True) + 1e-12
  tiles = np.round(filters / scale * 127.5 + 127.5).clip(0, 255).astype(np.uint8)
  factor = max(1, math.ceil(min_side / tiles.shape[1]))
  tiles = tiles.repeat(factor, axis=1).repeat(factor, axis=2)
  return images_lib.grid(tiles, pad=2)
