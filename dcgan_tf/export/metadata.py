"""What an exported generator is, in a JSON beside its graph: a serving team (or `sample` /
`evaluate` reading an export back) learns the dataset, variant, shapes, classes, step and
scores without the training workdir.

Where it lives: SavedModel DIR -> DIR/assets.extra/dcgan_tf.json (TF Serving copies
assets.extra untouched); a converted FILE (.onnx, .tflite) -> FILE.json beside it.
"""

import json
import os
import platform

from dcgan_tf import atomic
from dcgan_tf.config import Config
from dcgan_tf.errors import UserError

FILE_NAME = "dcgan_tf.json"
FORMAT_VERSION = 1  # bumped when a key changes meaning; readers refuse a newer one


def describe(config: Config, *, step: int, ema: bool, scores=None, max_batch: int,
             **extra) -> dict:
  """The metadata dict. step: the checkpoint's generator steps (-1 unknown); scores: the
  evaluation results the export was chosen by (best.json), or None; max_batch: the
  request limit (None: the format has none)."""
  import keras
  import tensorflow as tf
  import dcgan_tf
  return dict(
      format_version=FORMAT_VERSION, dataset=config.dataset, variant=config.variant,
      image_size=config.image_size, channels=config.channels, latent_dim=config.latent_dim,
      num_classes=config.num_classes, step=step, generator="ema" if ema else "trained",
      scores=scores or {}, max_batch=max_batch, image_dtype="uint8", image_range=[0, 255],
      versions=dict(dcgan_tf=dcgan_tf.__version__, tensorflow=tf.__version__,
                    keras=keras.__version__, python=platform.python_version()),
      **extra)


def path_of(export_path: str) -> str:
  if os.path.isdir(export_path):
    return os.path.join(export_path, "assets.extra", FILE_NAME)
  return export_path + ".json"


def write(export_path: str, info: dict) -> str:
  return atomic.write_text(path_of(export_path), json.dumps(info, indent=2, sort_keys=True))


def read(export_path: str) -> dict:
  """The metadata of a SavedModel folder or a converted file; UserError when it is absent,
  unreadable or from a newer dcgan_tf."""
  path = path_of(export_path)
  try:
    with open(path) as f:
      info = json.load(f)
  except (OSError, ValueError) as e:
    raise UserError(f"no readable dcgan_tf metadata at {path} ({e}); is {export_path!r} a "
                    "dcgan_tf export?") from None
  if info.get("format_version", 0) > FORMAT_VERSION:
    raise UserError(f"{path}: metadata format {info['format_version']} is newer than this "
                    f"dcgan_tf reads ({FORMAT_VERSION}); upgrade dcgan_tf")
  return info
