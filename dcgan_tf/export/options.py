"""`python -m dcgan_tf.export` settings; no TensorFlow, so --help and a bad flag answer
before TensorFlow loads."""

import dataclasses

from dcgan_tf.config import option


@dataclasses.dataclass
class ExportOptions:
  """`python -m dcgan_tf.export` settings; the help texts are its --help."""
  workdir: str = option(None, "Training workdir (holds config.json and checkpoints/).",
                        required=True)
  out: str = option("", "Output folder. Default: WORKDIR/saved_model.")
  checkpoint: str = option("", "Empty = newest; a step number (500) or a checkpoint path prefix "
                           "(W/checkpoints/ckpt-500).")
  use_ema: bool = option(True, "Use the EMA generator when the run has one (--ema_decay > 0); "
                         "--nouse_ema: the trained G.")
