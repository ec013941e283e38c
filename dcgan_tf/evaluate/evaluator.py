"""evaluate(options): metrics of a trained generator (and its discriminator).

Restores G and D from WORKDIR/config.json + a checkpoint, draws `num_samples`
generated and as many real images (the run's dataset and split), and computes the
requested metrics (see metrics/). Results are one JSON-able dict, also written to
WORKDIR/eval/step_NNNNNNN.json (merged with earlier results at that step) and as
scalars to WORKDIR/tensorboard/eval at the checkpoint's step.

score(context, names) computes metrics on a Context (context.py); evaluate and the
evaluation during training (train/evaluation.py) both go through it.
"""

import json
import os
import time

import numpy as np
import tensorflow as tf
from absl import logging

from dcgan_tf import atomic
from dcgan_tf import inference
from dcgan_tf import models
from dcgan_tf import seeds
from dcgan_tf.errors import UserError
from dcgan_tf.evaluate import classifier as classifier_lib
from dcgan_tf.evaluate.context import Context, Settings, svm_data
from dcgan_tf.evaluate.options import Options, parse_metrics, truncations, validate
from dcgan_tf.evaluate.metrics import fid as fid_lib
from dcgan_tf.evaluate.metrics import inception_score as is_lib
from dcgan_tf.evaluate.metrics import kid as kid_lib
from dcgan_tf.evaluate.metrics import manifold as manifold_lib
from dcgan_tf.evaluate.metrics import realfake as realfake_lib
from dcgan_tf.evaluate.metrics import svm as svm_lib
from dcgan_tf.evaluate.metrics import swd as swd_lib


def _metric_seed(ctx, metric):
  """Seed of `metric`'s own draws (subsets, projections, splits): the "eval_metric" stream
  of the settings' seed (seeds.py)."""
  return seeds.derive(ctx.settings.seed, "eval_metric", metric)


def _with_extractor(ctx, values):
  values["feature_extractor"] = ctx.extractor.name
  if ctx.settings.feature_extractor == "classifier":
    values["classifier_held_out_accuracy"] = ctx.classifier[1]["held_out_accuracy"]
  return values


def metric_fid(ctx):
  return _with_extractor(ctx, dict(value=fid_lib.fid(ctx.real_features[0],
                                                     ctx.samples.features[0])))


def metric_kid(ctx):
  mean, std = kid_lib.kid(ctx.real_features[0], ctx.samples.features[0],
                          seed=_metric_seed(ctx, "kid"))
  return _with_extractor(ctx, dict(value=mean, std=std))


def metric_is(ctx):
  """Inception score of the fakes (real_data_value: of the real images) and the number of
  classes the extractor's argmax covers among them (a collapsed G covers one)."""
  fake_logits, real_logits = ctx.samples.features[1], ctx.real_features[1]
  mean, std = is_lib.inception_score(fake_logits)
  real, _ = is_lib.inception_score(real_logits)
  return _with_extractor(ctx, dict(
      value=mean, std=std, real_data_value=real,
      classes_covered=int(len(np.unique(fake_logits.argmax(-1)))),
      real_classes_covered=int(len(np.unique(real_logits.argmax(-1))))))


def metric_swd(ctx):
  result = swd_lib.swd(ctx.real, ctx.samples.images, seed=_metric_seed(ctx, "swd"))
  return dict(value=result["mean"], levels={str(k): v for k, v in result["levels"].items()},
              scale=swd_lib.SCALE)


def metric_realfake(ctx):
  result = realfake_lib.real_vs_fake(ctx.real, ctx.samples.images,
                                     epochs=ctx.settings.realfake_epochs,
                                     seed=_metric_seed(ctx, "realfake"))
  result["value"] = result.pop("accuracy")
  result["ideal"] = 0.5
  return result


def metric_svm(ctx):
  s = ctx.settings
  train, test, num_classes = svm_data(ctx.config, s)
  # Control: the same protocol on an untrained D shows what training added.
  _, random_d = models.build_models(ctx.config)
  rows = svm_lib.protocol(ctx.run.discriminator, train, test, layers=s.svm_features, c=s.svm_c,
                          random_discriminator=random_d, batch_size=s.batch_size)
  table = svm_lib.format_table(rows, num_classes, len(train[1]), len(test[1]))
  return dict(value=rows[0]["accuracy"], dataset=s.svm_dataset or ctx.config.dataset,
              features=s.svm_features, train_examples=len(train[1]), test_examples=len(test[1]),
              chance=1.0 / num_classes, rows=rows, table=table)


def metric_class_accuracy(ctx):
  """Conditional runs: the share of G(z, y) that the dataset's classifier (the one of
  --feature_extractor=classifier, trained on real images) labels y. 1 is ideal."""
  if not ctx.run.num_classes:
    raise UserError("class_accuracy needs a conditional run (variant=cdcgan or "
                    "cdcgan_projection)", "metrics")
  model, info = ctx.classifier
  predicted = classifier_lib.predict_logits(model, ctx.samples.images,
                                            ctx.settings.batch_size).argmax(-1)
  labels = ctx.samples.labels
  per_class = {str(c): float(np.mean(predicted[labels == c] == c))
               for c in range(ctx.run.num_classes) if np.any(labels == c)}
  return dict(value=float(np.mean(predicted == labels)), per_class=per_class,
              chance=1.0 / ctx.run.num_classes,
              classifier_held_out_accuracy=info["held_out_accuracy"])


def _manifold_metric(name):
  def metric(ctx):
    if ctx.settings.num_samples <= manifold_lib.DC_K:
      raise UserError(f"{name} needs more than {manifold_lib.DC_K} images "
                      "(k nearest neighbours)", "num_samples")
    values = ctx.samples.manifold
    return _with_extractor(ctx, dict(value=values[name], k=(
        values["k"]["precision_recall"] if name in ("precision", "recall") else
        values["k"]["density_coverage"])))
  metric.__doc__ = f"{name} (metrics/manifold.py) on the feature extractor's features."
  return metric


INTRA_FID_MIN = 10  # images per class, real and generated, for a class's FID


def metric_intra_fid(ctx):
  """Conditional runs: FID per class (the class's real images against the samples asked for
  that class), on the extractor's features; value = the mean over classes, with the worst.
  Per-class sets are ~N / classes images: compare numbers made with one --num_samples."""
  if not ctx.run.num_classes:
    raise UserError("intra_fid needs a conditional run (variant=cdcgan or cdcgan_projection)",
                    "metrics")
  real, fake = ctx.real_features[0], ctx.samples.features[0]
  per_class, counts = {}, {}
  for c in range(ctx.run.num_classes):
    r, f = real[ctx.real_labels == c], fake[ctx.samples.labels == c]
    counts[str(c)] = [len(r), len(f)]
    # FID is biased upward as N shrinks (~1/N): classes below INTRA_FID_MIN are left out
    # (and listed), so the worst class is not merely the smallest.
    if min(len(r), len(f)) >= INTRA_FID_MIN:
      per_class[str(c)] = fid_lib.fid(r, f)
  if not per_class:
    raise UserError(f"intra_fid: no class has {INTRA_FID_MIN} real and generated images; "
                    "raise num_samples", "metrics")
  worst = max(per_class, key=per_class.get)
  return _with_extractor(ctx, dict(
      value=float(np.mean(list(per_class.values()))), worst=per_class[worst],
      worst_class=int(worst), per_class=per_class, counts_real_generated=counts,
      classes_left_out=sorted(set(counts) - set(per_class), key=int)))


def metric_memorization(ctx):
  """The share of samples nearer a training image than the rule of metrics/manifold.py
  allows, in feature space, against the run's whole training split."""
  return _with_extractor(ctx, manifold_lib.memorization(ctx.train_features,
                                                        ctx.samples.features[0],
                                                        own=ctx.train_nearest))


METRIC_FNS = {"fid": metric_fid, "kid": metric_kid, "is": metric_is, "swd": metric_swd,
              "svm": metric_svm, "realfake": metric_realfake,
              "class_accuracy": metric_class_accuracy, "memorization": metric_memorization,
              "intra_fid": metric_intra_fid,
              **{name: _manifold_metric(name)
                 for name in ("precision", "recall", "density", "coverage")}}


def score(ctx, names):
  """Metrics `names` (METRIC_FNS keys) of ctx's samples: ({name: result dict}, {name:
  seconds it took}); each is logged when done (slow ones take minutes)."""
  results, seconds = {}, {}
  truncated = "" if ctx.samples.truncation is None else f" (t={ctx.samples.truncation:g})"
  for name in names:
    t0 = time.perf_counter()
    results[name] = METRIC_FNS[name](ctx)
    seconds[name] = round(time.perf_counter() - t0, 2)
    logging.info("%s%s: %s (%.1fs)", name, truncated, results[name]["value"], seconds[name])
  return results, seconds


def headline(results) -> dict:
  """{name: float value} of score()'s results."""
  return {name: float(result["value"]) for name, result in results.items()}


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


def protocol_differences(old: dict, new: dict) -> list:
  """Protocol fields both record with different values (an SWD-only evaluation records no
  feature extractor: not a difference)."""
  return sorted(k for k in set(old) & set(new) if old[k] != new[k])


def warn_on_other_protocols(folder, path, protocol):
  """Logs the other result files in `folder` whose protocol differs from `protocol`: their
  numbers and these are not comparable (a curve over steps would mix them)."""
  names = sorted(f for f in os.listdir(folder) if f.endswith(".json")) \
      if os.path.isdir(folder) else []
  for name in names:
    other = os.path.join(folder, name)
    if other == path:
      continue
    try:
      with open(other) as f:
        differs = protocol_differences(json.load(f).get("protocol", {}), protocol)
    except (OSError, ValueError):
      continue
    if differs:
      logging.warning("%s was evaluated with another protocol (%s): its numbers and these "
                      "are not comparable", other, ", ".join(differs))


def write_results(workdir, results, prefix="step"):
  """Merges into WORKDIR/eval/PREFIX_NNNNNNN.json and logs scalars (+ SVM table) to
  TensorBoard (eval/, or eval_export/ for an export's scores). Warns about the folder's
  other results of another protocol."""
  step = results["step"]
  path = workdir.eval_json(step, prefix)
  warn_on_other_protocols(workdir.eval_dir, path, results["protocol"])
  merged = results
  if os.path.isfile(path):
    with open(path) as f:
      merged = json.load(f)
    differs = protocol_differences(merged.get("protocol", {}), results["protocol"])
    if differs or "protocol" not in merged:
      # Numbers of two protocols side by side read as comparable: the old ones go.
      logging.warning("%s holds results of another protocol (%s): replaced, not merged", path,
                      ", ".join(sorted(differs)) or "none recorded")
      merged = dict(results)
    else:
      merged["metrics"].update(results["metrics"])
      merged.update({k: v for k, v in results.items() if k not in ("metrics", "protocol")})
      merged["protocol"].update(results["protocol"])
  atomic.write_text(path, json.dumps(merged, indent=2, sort_keys=True))
  writer = tf.summary.create_file_writer(os.path.join(
      workdir.tensorboard_dir, "eval" if prefix == "step" else "eval_export"))
  with writer.as_default(step=step):
    for tag, value in scalars(results).items():
      tf.summary.scalar(tag, value)
    if "svm" in results["metrics"]:
      tf.summary.text("svm_table", results["metrics"]["svm"]["table"])
    tf.summary.text("protocol", json.dumps(results["protocol"], sort_keys=True))
  writer.close()
  return path


def truncation_curve(ctx, names, values):
  """[{truncation: t, metric: value, ...}] of G with z truncated at each t in `values`
  (the untruncated numbers stay in results["metrics"])."""
  rows = []
  for t in values:
    ctx.refresh(truncation=t)
    rows.append(dict(truncation=t, **headline(score(ctx, names)[0])))
    logging.info("truncation %g: %s", t, rows[-1])
  ctx.refresh()
  return rows


def plot_truncation_curve(rows, path, title=""):
  """One panel per metric over t (log axis); written atomically as a PNG at `path`."""
  import matplotlib
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt
  names = [k for k in rows[0] if k != "truncation"]
  fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3), squeeze=False)
  ts = [r["truncation"] for r in rows]
  for ax, name in zip(axes[0], names):
    ax.plot(ts, [r[name] for r in rows], "o-")
    ax.set_xscale("log")
    ax.set_xlabel("truncation t")
    ax.set_title(name)
  fig.suptitle(title)
  fig.tight_layout()
  with atomic.replacing(path) as tmp:
    fig.savefig(tmp, format="png", dpi=100)
  plt.close(fig)
  return path


def evaluate(options: Options) -> dict:
  """Runs the requested metrics on one checkpoint; returns (and writes) the results dict."""
  validate(options)
  names = parse_metrics(options.metrics)
  run = inference.load_run(options.workdir, options.checkpoint, use_ema=options.use_ema,
                           saved_model=options.saved_model)
  if run.discriminator is None and "svm" in names:
    raise UserError("the svm metric reads D's features; an export holds G only", "saved_model")
  ctx = Context(run, Settings.from_options(options))
  results = dict(workdir=os.path.abspath(options.workdir), checkpoint=run.checkpoint,
                 saved_model=os.path.abspath(options.saved_model) if options.saved_model else "",
                 step=run.step, dataset=run.config.dataset, split=ctx.config.split,
                 variant=run.config.variant, num_samples=options.num_samples, seed=options.seed,
                 generator="ema" if run.ema else "trained")
  results["metrics"], results["seconds"] = score(ctx, names)
  results["protocol"] = ctx.protocol()
  curve = truncation_curve(ctx, names, truncations(options))
  if curve:
    results["truncation_curve"] = curve
  # An export's scores are kept apart from its checkpoint's (eval/export_step_N.json).
  results["file"] = write_results(run.workdir, results,
                                  "export_step" if options.saved_model else "step")
  if curve:
    results["truncation_plot"] = plot_truncation_curve(
        curve, run.workdir.truncation_png(run.step),
        f"{run.config.dataset} {run.config.variant}, step {run.step}")
  return results
