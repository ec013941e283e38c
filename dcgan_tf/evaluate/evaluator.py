"""evaluate(options): metrics of a trained generator (and its discriminator).

Restores G and D from WORKDIR/config.json + a checkpoint, draws `num_samples`
generated and as many real images (the run's dataset and split), and computes the
requested metrics (see metrics/). Results are one JSON-able dict, also written to
WORKDIR/eval/step_NNNNNNN.json (merged with earlier results at that step) and as
scalars to WORKDIR/tensorboard/eval at the checkpoint's step.
"""

import dataclasses
import json
import os
import time

import numpy as np
import tensorflow as tf
from absl import logging

from dcgan_tf import atomic
from dcgan_tf import inference
from dcgan_tf import models
from dcgan_tf.config import option
from dcgan_tf.errors import UserError
from dcgan_tf.evaluate import classifier as classifier_lib
from dcgan_tf.evaluate.context import Context, svm_data
from dcgan_tf.evaluate.metrics import fid as fid_lib
from dcgan_tf.evaluate.metrics import inception_score as is_lib
from dcgan_tf.evaluate.metrics import kid as kid_lib
from dcgan_tf.evaluate.metrics import realfake as realfake_lib
from dcgan_tf.evaluate.metrics import svm as svm_lib
from dcgan_tf.evaluate.metrics import swd as swd_lib

METRICS = ("fid", "kid", "is", "swd", "svm", "realfake", "class_accuracy")
FEATURE_EXTRACTORS = ("inception", "classifier")



@dataclasses.dataclass
class Options:
  """Evaluation settings; the help texts double as evaluate's --help."""
  workdir: str = option(None, "Training workdir (config.json, checkpoints/).", required=True)
  metrics: str = option("swd", "Comma-separated metrics: " + ", ".join(METRICS) + ".")
  num_samples: int = option(2000, "Generated images, and real images, per metric (>= 2). "
                             "FID/KID are biased by N: compare numbers made with one N.")
  use_ema: bool = option(True, "Use the EMA generator when the run has one (--ema_decay > 0); "
                         "--nouse_ema: the trained G.")
  checkpoint: str = option("", "Checkpoint to evaluate: empty = newest, a step number (500), or "
                            "a path prefix (W/checkpoints/ckpt-500).")
  real_split: str = option("", "Split of the run's dataset that real images (and the FID "
                           "classifier) come from; empty = the run's own. E.g. test, to compare "
                           "a small-data run (--split=train[:2000]) with held-out images.")
  feature_extractor: str = option("inception", "Features of fid/kid/is: inception (needs "
                                   "weights, see --inception_weights) | classifier (a small CNN "
                                   "trained on the dataset's labels, cached; works offline).")
  inception_weights: str = option("", "InceptionV3 weights: empty = the Keras cache "
                                   "(~/.keras/models), a Keras .h5 path, the 2015 TF-FID graph "
                                   "classify_image_graph_def.pb (standard FID), or 'random' "
                                   "(untrained; for testing the code path only).")
  svm_dataset: str = option("", "Labelled dataset of the SVM test (digits | mnist | "
                             "fashion_mnist | cifar10 | tfds:NAME); empty = the run's dataset.")
  svm_features: str = option("all", "D features for the SVM: all (every conv layer) | last.")
  svm_train_examples: int = option(10000, "SVM training examples (>= 10).")
  svm_test_examples: int = option(10000, "SVM test examples (>= 10).")
  svm_c: float = option(0.001, "LinearSVC regularisation C (> 0; smaller = stronger L2).")
  classifier_examples: int = option(20000, "Training images of the FID classifier (>= 100); "
                                     "10% of them are held out to report its accuracy.")
  classifier_epochs: int = option(3, "Epochs of the FID classifier (>= 1).")
  realfake_epochs: int = option(3, "Epochs of the real-vs-fake classifier (>= 1).")
  batch_size: int = option(100, "Batch size for generating images and features (>= 1).")
  seed: int = option(0, "Seed of z, labels, real-image order, projections and classifiers.")
  cache_dir: str = option("", "Cache of classifiers and real features; empty = $DCGAN_TF_CACHE "
                           "or ~/.cache/dcgan_tf.")


def parse_metrics(text):
  names = [m.strip() for m in text.split(",") if m.strip()]
  bad = [m for m in names if m not in METRICS]
  if bad or not names:
    raise UserError(f"--metrics: unknown {', '.join(bad) or '(none given)'}; valid: "
                     f"{', '.join(METRICS)}")
  return names


def validate(options: Options):
  parse_metrics(options.metrics)
  if options.feature_extractor not in FEATURE_EXTRACTORS:
    raise UserError(f"--feature_extractor: got {options.feature_extractor!r}; valid: "
                     f"{', '.join(FEATURE_EXTRACTORS)}")
  if options.svm_features not in svm_lib.LAYER_CHOICES:
    raise UserError(f"--svm_features: got {options.svm_features!r}; valid: "
                     f"{', '.join(svm_lib.LAYER_CHOICES)}")
  for name, low in (("num_samples", 2), ("svm_train_examples", 10), ("svm_test_examples", 10),
                    ("classifier_examples", 100), ("classifier_epochs", 1),
                    ("realfake_epochs", 1), ("batch_size", 1)):
    if getattr(options, name) < low:
      raise UserError(f"--{name}: must be >= {low}, got {getattr(options, name)}")
  if not options.svm_c > 0:
    raise UserError(f"--svm_c: must be > 0, got {options.svm_c}")


def _with_extractor(ctx, values):
  values["feature_extractor"] = ctx.extractor.name
  if ctx.options.feature_extractor == "classifier":
    values["classifier_held_out_accuracy"] = ctx.classifier[1]["held_out_accuracy"]
  return values


def metric_fid(ctx):
  return _with_extractor(ctx, dict(value=fid_lib.fid(ctx.real_features[0], ctx.fake_features[0])))


def metric_kid(ctx):
  mean, std = kid_lib.kid(ctx.real_features[0], ctx.fake_features[0], seed=ctx.options.seed)
  return _with_extractor(ctx, dict(value=mean, std=std))


def metric_is(ctx):
  """Inception score of the fakes (real_data_value: of the real images) and the number of
  classes the extractor's argmax covers among them (a collapsed G covers one)."""
  fake_logits, real_logits = ctx.fake_features[1], ctx.real_features[1]
  mean, std = is_lib.inception_score(fake_logits)
  real, _ = is_lib.inception_score(real_logits)
  return _with_extractor(ctx, dict(
      value=mean, std=std, real_data_value=real,
      classes_covered=int(len(np.unique(fake_logits.argmax(-1)))),
      real_classes_covered=int(len(np.unique(real_logits.argmax(-1))))))


def metric_swd(ctx):
  result = swd_lib.swd(ctx.real, ctx.fake, seed=ctx.options.seed)
  return dict(value=result["mean"], levels={str(k): v for k, v in result["levels"].items()},
              scale=swd_lib.SCALE)


def metric_realfake(ctx):
  result = realfake_lib.real_vs_fake(ctx.real, ctx.fake, epochs=ctx.options.realfake_epochs,
                                     seed=ctx.options.seed)
  result["value"] = result.pop("accuracy")
  result["ideal"] = 0.5
  return result


def metric_svm(ctx):
  o = ctx.options
  train, test, num_classes = svm_data(ctx.config, o)
  # Control: the same protocol on an untrained D shows what training added.
  _, random_d = models.build_models(ctx.config, ctx.run.num_classes)
  rows = svm_lib.protocol(ctx.run.discriminator, train, test, layers=o.svm_features, c=o.svm_c,
                          random_discriminator=random_d, batch_size=o.batch_size)
  table = svm_lib.format_table(rows, num_classes, len(train[1]), len(test[1]))
  return dict(value=rows[0]["accuracy"], dataset=o.svm_dataset or ctx.config.dataset,
              features=o.svm_features, train_examples=len(train[1]), test_examples=len(test[1]),
              chance=1.0 / num_classes, rows=rows, table=table)


def metric_class_accuracy(ctx):
  """Conditional runs: the share of G(z, y) that the dataset's classifier (the one of
  --feature_extractor=classifier, trained on real images) labels y. 1 is ideal."""
  if not ctx.run.num_classes:
    raise UserError("--metrics=class_accuracy: needs a conditional run (--variant=cdcgan)")
  model, info = ctx.classifier
  predicted = classifier_lib.predict_logits(model, ctx.fake, ctx.options.batch_size).argmax(-1)
  labels = ctx.fake_labels
  per_class = {str(c): float(np.mean(predicted[labels == c] == c))
               for c in range(ctx.run.num_classes) if np.any(labels == c)}
  return dict(value=float(np.mean(predicted == labels)), per_class=per_class,
              chance=1.0 / ctx.run.num_classes,
              classifier_held_out_accuracy=info["held_out_accuracy"])


METRIC_FNS = {"fid": metric_fid, "kid": metric_kid, "is": metric_is, "swd": metric_swd,
              "svm": metric_svm, "realfake": metric_realfake,
              "class_accuracy": metric_class_accuracy}


def scalars(results):
  """TensorBoard scalars of a results dict: {tag: value}."""
  out = {}
  for name, values in results["metrics"].items():
    extractor = values.get("feature_extractor", "")
    suffix = "/" + extractor.split(" ")[0].split(":")[0] if extractor else ""
    out[f"{name}{suffix}"] = values["value"]
    for level, value in values.get("levels", {}).items():
      out[f"swd/{level}px"] = value
  return out


def write_results(workdir, results):
  """Merges into WORKDIR/eval/step_NNNNNNN.json and logs scalars (+ SVM table) to TensorBoard."""
  step = results["step"]
  path = os.path.join(workdir.eval_dir, f"step_{step:07d}.json")
  merged = results
  if os.path.isfile(path):
    with open(path) as f:
      merged = json.load(f)
    merged["metrics"].update(results["metrics"])
    merged.update({k: v for k, v in results.items() if k != "metrics"})
  atomic.write_text(path, json.dumps(merged, indent=2, sort_keys=True))
  writer = tf.summary.create_file_writer(os.path.join(workdir.tensorboard_dir, "eval"))
  with writer.as_default(step=step):
    for tag, value in scalars(results).items():
      tf.summary.scalar(tag, value)
    if "svm" in results["metrics"]:
      tf.summary.text("svm_table", results["metrics"]["svm"]["table"])
  writer.close()
  return path


def evaluate(options: Options) -> dict:
  """Runs the requested metrics on one checkpoint; returns (and writes) the results dict."""
  validate(options)
  names = parse_metrics(options.metrics)
  run = inference.load_run(options.workdir, options.checkpoint, use_ema=options.use_ema)
  ctx = Context(run, options)
  results = dict(workdir=os.path.abspath(options.workdir), checkpoint=run.checkpoint,
                 step=run.step, dataset=run.config.dataset, split=ctx.config.split,
                 variant=run.config.variant, num_samples=options.num_samples, seed=options.seed,
                 generator="ema" if run.ema else "trained", metrics={}, seconds={})
  for name in names:
    t0 = time.perf_counter()
    results["metrics"][name] = METRIC_FNS[name](ctx)
    results["seconds"][name] = round(time.perf_counter() - t0, 2)
    logging.info("%s: %s (%.1fs)", name, results["metrics"][name]["value"],
                 results["seconds"][name])
  results["file"] = write_results(run.workdir, results)
  return results
