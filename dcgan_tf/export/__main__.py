"""Export a trained generator: `python -m dcgan_tf.export --workdir=W [--out=DIR] [--checkpoint=N]`.

Writes a SavedModel with the signatures savedmodel.py documents (uint8 images).
"""

from absl import logging

from dcgan_tf import cli
from dcgan_tf.export import savedmodel

cli.define_flags(savedmodel.ExportOptions)


def main(argv):
  del argv
  logging.set_verbosity(logging.INFO)
  path = savedmodel.export_from_workdir(cli.read_flags(savedmodel.ExportOptions))
  print(f"SavedModel written to {path}")


if __name__ == "__main__":
  cli.run(main)
