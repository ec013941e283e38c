"""Train a DCGAN-family model: `python -m dcgan_tf.train --dataset=digits`.

Flags pick the config (configs/<dataset>.py or --config) and override single
fields; everything else happens in train_lib.train_and_evaluate.
"""

import signal
import sys

from absl import flags, logging

from dcgan_tf import cli

flags.DEFINE_string("workdir", None, "Run folder (checkpoints, TensorBoard, samples, "
                    "saved_model). Default: runs/<dataset>-<variant>. Rerunning resumes.")
flags.DEFINE_boolean("overwrite", False, "Start afresh even if --workdir holds a run (e.g. one "
                     "trained with another --image_size): the old run is renamed to "
                     "WORKDIR.old-<date>-<time>, nothing is deleted. Don't leave it in a script "
                     "meant to resume.")
cli.define_config_flags()
flags.adopt_module_key_flags(cli)  # --help lists every config field


def main(argv):
  del argv
  logging.set_verbosity(logging.INFO)
  config = cli.config_from_flags()
  workdir = flags.FLAGS.workdir or cli.default_workdir(config)
  from dcgan_tf import train_lib  # imports TensorFlow: after flags are checked
  summary = train_lib.train_and_evaluate(config, workdir, overwrite=flags.FLAGS.overwrite)
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
