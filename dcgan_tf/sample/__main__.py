"""Pictures from a trained workdir: `python -m dcgan_tf.sample --workdir=W --mode=grid --out=g.png`.

Every mode writes a PNG and a TensorBoard image (W/tensorboard/sample) and prints a
one-line JSON summary; pictures.py says what each mode draws.
"""

import json

from absl import logging

from dcgan_tf import cli
from dcgan_tf.sample import options as options_lib

cli.define_flags(options_lib.SampleOptions)


def main(argv):
  del argv
  options = cli.read_options(options_lib.SampleOptions, options_lib.validate, logging.WARNING)
  from dcgan_tf.sample import pictures  # imports TensorFlow: after the flags are checked
  print(json.dumps(pictures.make_picture(options)))


if __name__ == "__main__":
  cli.run(main)
