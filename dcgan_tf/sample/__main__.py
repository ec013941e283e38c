"""Pictures from a trained workdir: `python -m dcgan_tf.sample --workdir=W --mode=grid --out=g.png`.

Every mode writes a PNG and a TensorBoard image (W/tensorboard/sample) and prints a
one-line JSON summary; pictures.py says what each mode draws.
"""

import json

from absl import logging

from dcgan_tf import cli
from dcgan_tf.sample import pictures

cli.define_flags(pictures.SampleOptions)


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  print(json.dumps(pictures.make_picture(cli.read_flags(pictures.SampleOptions))))


if __name__ == "__main__":
  cli.run(main)
