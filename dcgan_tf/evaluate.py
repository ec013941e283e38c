"""Evaluate a trained workdir: `python -m dcgan_tf.evaluate --workdir=W --metrics=swd,fid`.

Prints one JSON object on stdout (the SVM table, when asked for, goes to stderr),
writes it to W/eval/step_NNNNNNN.json and the numbers to TensorBoard (W/tensorboard/eval)
at the checkpoint's step. Metrics (eval_lib.METRICS):
  fid, kid, is  feature statistics of --feature_extractor (inception or classifier)
  swd           Laplacian-pyramid sliced Wasserstein distance x 1e3 (no network needed)
  svm           the DCGAN paper's D-feature linear SVM on --svm_dataset, with baselines
  realfake      held-out accuracy of a real-vs-generated classifier (0.5 is ideal)
Everything but --feature_extractor=inception works offline.
"""

import dataclasses
import json
import sys

from absl import flags, logging

from dcgan_tf import cli

flags.DEFINE_string("workdir", None, "Training workdir (config.json, checkpoints/).",
                    required=True)


def _define_option_flags():
  from dcgan_tf.eval_lib import Options
  for field in dataclasses.fields(Options):
    define = {int: flags.DEFINE_integer, float: flags.DEFINE_float}.get(type(field.default),
                                                                          flags.DEFINE_string)
    define(field.name, field.default, field.metadata["help"])
  return Options


def main(argv):
  del argv
  logging.set_verbosity(logging.INFO)
  from dcgan_tf import eval_lib
  options = eval_lib.Options(**{f.name: flags.FLAGS[f.name].value
                                for f in dataclasses.fields(eval_lib.Options)})
  results = eval_lib.evaluate(flags.FLAGS.workdir, options)
  if "svm" in results["metrics"]:
    print(results["metrics"]["svm"]["table"], file=sys.stderr)
  print(json.dumps(results, sort_keys=True))


_define_option_flags()

if __name__ == "__main__":
  cli.run(main)
