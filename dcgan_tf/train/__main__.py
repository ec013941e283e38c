"""Train a DCGAN-family model: `python -m dcgan_tf.train --dataset=digits`.

Flags pick the config (configs/<dataset>.py or --config) and override single
fields; everything else happens in loop.train.
"""

import dataclasses
import signal
import sys

from absl import logging

from dcgan_tf import cli
from dcgan_tf import workdir as workdir_lib
from dcgan_tf.config import option


@dataclasses.dataclass
class RunOptions:
  """Where a run lives; the help texts are --help's."""
  workdir: str = option("", "Run folder (checkpoints, TensorBoard, samples, saved_model). "
                        "Default: runs/<dataset>-<variant>. Rerunning resumes.")
  overwrite: bool = option(False, "Start afresh even if --workdir holds a run (e.g. one trained "
                           "with another --image_size): the old run is renamed to "
                           "WORKDIR.old-<date>-<time>, nothing is deleted. Don't leave it in a "
                           "script meant to resume.")


cli.define_flags(RunOptions)
cli.define_config_flags()


def main(argv):
  del argv
  options = cli.read_options(RunOptions)  # any workdir is valid; the config is checked next
  config = cli.config_from_flags()
  workdir = options.workdir or workdir_lib.default_path(config)
  from dcgan_tf.train import loop  # imports TensorFlow: after the flags are checked
  summary = loop.train(config, workdir, overwrite=options.overwrite)
  if summary["interrupted"]:
    logging.flush()
    print(f"Interrupted by {summary['interrupted']} at step {summary['step']} of "
          f"{summary['total_steps']}: checkpoint {summary['checkpoint']} saved; rerun the same "
          "command to resume.", file=sys.stderr)
    # 128 + signal number, as a shell reports a signalled process: `train && next` stops here.
    sys.exit(128 + signal.Signals[summary["interrupted"]])
  print(f"Trained to step {summary['step']} in {summary['wall_s']:.1f}s "
        f"({summary['images_per_s']:.1f} images/s). Workdir: {workdir}")


if __name__ == "__main__":
  cli.run(main)
