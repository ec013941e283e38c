"""Evaluate a trained workdir: `python -m dcgan_tf.evaluate --workdir=W --metrics=swd,fid`.

Prints one JSON object on stdout (the SVM table, when asked for, goes to stderr),
writes it to W/eval/step_NNNNNNN.json and the numbers to TensorBoard (W/tensorboard/eval)
at the checkpoint's step. Metrics (options.METRICS):
  fid, kid, is  feature statistics of --feature_extractor (inception or classifier)
  swd           Laplacian-pyramid sliced Wasserstein distance x 1e3 (no network needed)
  svm           the DCGAN paper's D-feature linear SVM on --svm_dataset, with baselines
  realfake      held-out accuracy of a real-vs-generated classifier (0.5 is ideal)
  class_accuracy  conditional runs: share of G(z, y) the dataset classifier labels y
Everything but --feature_extractor=inception works offline.
"""

import json
import sys

from dcgan_tf import cli
from dcgan_tf.evaluate import options as options_lib

cli.define_flags(options_lib.Options)


def main(argv):
  del argv
  options = cli.read_options(options_lib.Options, options_lib.validate)
  from dcgan_tf.evaluate import evaluator  # imports TensorFlow: after the flags are checked
  results = evaluator.evaluate(options)
  if "svm" in results["metrics"]:
    print(results["metrics"]["svm"]["table"], file=sys.stderr)
  print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
  cli.run(main)
