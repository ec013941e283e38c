"""`python -m dcgan_tf.export` settings and their checks; no TensorFlow, so --help and a bad
flag answer before TensorFlow loads."""

import dataclasses

from dcgan_tf.config import option, use_ema_option
from dcgan_tf.errors import check

FORMATS = ("savedmodel", "onnx", "tflite")


@dataclasses.dataclass
class ExportOptions:
  """`python -m dcgan_tf.export` settings; the help texts are its --help."""
  workdir: str = option(None, "Training workdir (holds config.json and checkpoints/).",
                        required=True)
  format: str = option("savedmodel", "savedmodel: the serving signatures (export/signatures.py) "
                       "+ warm-up + metadata; onnx (tf2onnx, dynamic batch) or tflite (fixed "
                       "--batch): z [, labels] -> uint8 images, checked against the generator.")
  out: str = option("", "Output path. Default: WORKDIR/saved_model (and a TF Serving version "
                    "WORKDIR/serving/STEP), WORKDIR/generator.onnx, WORKDIR/generator.tflite.")
  checkpoint: str = option("", "Empty = newest; a step number (500) or a checkpoint path prefix "
                           "(W/checkpoints/ckpt-500).")
  use_ema: bool = use_ema_option()
  max_batch: int = option(1024, "savedmodel: the most images one request may ask for (num of "
                          "generate*, rows of z); a larger request fails before allocating.")
  batch: int = option(1, "tflite: the fixed batch of the model (TFLite has no dynamic batch).")


def validate(o: ExportOptions) -> None:
  """UserError naming the field for a bad format, max_batch or batch."""
  check(o.format in FORMATS, "format", f"got {o.format!r}; valid: {', '.join(FORMATS)}")
  for name in ("max_batch", "batch"):
    check(getattr(o, name) >= 1, name, f"must be >= 1, got {getattr(o, name)}")
