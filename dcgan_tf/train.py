"""Train a DCGAN-family model: `python -m dcgan_tf.train --dataset=digits`.

Flags pick the config (configs/<dataset>.py or --config) and override single
fields; everything else happens in train_lib.train_and_evaluate.
"""

from absl import flags, logging

from dcgan_tf import cli

flags.DEFINE_string("workdir", None, "Run folder (checkpoints, TensorBoard, samples, "
                    "saved_model). Default: runs/<dataset>-<variant>. Rerunning resumes.")
cli.define_config_flags()
flags.adopt_module_key_flags(cli)  # --help lists every config field


def main(argv):
  del argv
  logging.set_verbosity(logging.INFO)
  config = cli.config_from_flags()
  workdir = flags.FLAGS.workdir or cli.default_workdir(config)
  from dcgan_tf import train_lib  # imports TensorFlow: after flags are checked
  summary = train_lib.train_and_evaluate(config, workdir)
  print(f"Trained to step {summary['step']} in {summary['wall_s']:.1f}s "
        f"({summary['images_per_s']:.1f} images/s). Workdir: {workdir}")


if __name__ == "__main__":
  cli.run(main)
