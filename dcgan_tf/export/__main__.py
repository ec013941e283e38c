"""Export a trained generator: `python -m dcgan_tf.export --workdir=W [--out=DIR] [--checkpoint=N]`.

Writes a SavedModel with the signatures savedmodel.py documents (uint8 images).
"""

from absl import logging

from dcgan_tf import cli
from dcgan_tf.export import options as options_lib

cli.define_flags(options_lib.ExportOptions)


def main(argv):
  del argv
  logging.set_verbosity(logging.INFO)
  options = cli.read_flags(options_lib.ExportOptions)
  from dcgan_tf.export import savedmodel  # imports TensorFlow: after the flags are checked
  path = savedmodel.export_from_workdir(options)
  print(f"SavedModel written to {path}")


if __name__ == "__main__":
  cli.run(main)
