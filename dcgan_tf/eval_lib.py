"""evaluate(workdir, options): metrics of a trained generator (and its discriminator).

Restores G and D from WORKDIR/config.json + a checkpoint, draws `num_samples`
generated and as many real images (the run's dataset and split), and computes the
requested metrics (see metrics/). Results are one JSON-able dict, also written to
WORKDIR/eval/step_NNNNNNN.json (merged with earlier results at that step) and as
scalars to WORKDIR/tensorboard/eval at the checkpoint's step.

Caches (in --cache_dir, default ~/.cache/dcgan_tf): the dataset classifier of
`--feature_extractor=classifier`, and real-image features per dataset / split / size /
extractor / sample count / seed, so a second evaluation only pays for the fakes.
"""

import dataclasses
import functools
import hashlib
import json
import os
import re
import time

import numpy as np
import tensorflow as tf
from absl import logging

from dcgan_tf import classifier as classifier_lib
from dcgan_tf import data as data_lib
from dcgan_tf import models
from dcgan_tf import sample_lib
from dcgan_tf.metrics import extractors
from dcgan_tf.metrics import fid as fid_lib
from dcgan_tf.metrics import inception_score as is_lib
from dcgan_tf.metrics import kid as kid_lib
from dcgan_tf.metrics import realfake as realfake_lib
from dcgan_tf.metrics import svm as svm_lib
from dcgan_tf.metrics import swd as swd_lib

METRICS = ("fid", "kid", "is", "swd", "svm", "realfake")
FEATURE_EXTRACTORS = ("inception", "classifier")
# Datasets with a single split: the SVM test splits them in half (stratified).
SINGLE_SPLIT = ("digits",)


def _option(default, help_text):
  return dataclasses.field(default=default, metadata={"help": help_text})


@dataclasses.dataclass
class Options:
  """Evaluation settings; the help texts double as evaluate's --help."""
  metrics: str = _option("swd", "Comma-separated metrics: " + ", ".join(METRICS) + ".")
  num_samples: int = _option(2000, "Generated images, and real images, per metric (>= 2). "
                             "FID/KID are biased by N: compare numbers made with one N.")
  checkpoint: str = _option("", "Checkpoint to evaluate: empty = newest, a step number (500), or "
                            "a path prefix (W/checkpoints/ckpt-500).")
  feature_extractor: str = _option("inception", "Features of fid/kid/is: inception (needs "
                                   "weights, see --inception_weights) | classifier (a small CNN "
                                   "trained on the dataset's labels, cached; works offline).")
  inception_weights: str = _option("", "InceptionV3 weights: empty = the Keras cache "
                                   "(~/.keras/models), a Keras .h5 path, the 2015 TF-FID graph "
                                   "classify_image_graph_def.pb (standard FID), or 'random' "
                                   "(untrained; for testing the code path only).")
  svm_dataset: str = _option("", "Labelled dataset of the SVM test (digits | mnist | "
                             "fashion_mnist | cifar10 | tfds:NAME); empty = the run's dataset.")
  svm_features: str = _option("all", "D features for the SVM: all (every conv layer) | last.")
  svm_train_examples: int = _option(10000, "SVM training examples (>= 10).")
  svm_test_examples: int = _option(10000, "SVM test examples (>= 10).")
  svm_c: float = _option(0.001, "LinearSVC regularisation C (> 0; smaller = stronger L2).")
  classifier_examples: int = _option(20000, "Training images of the FID classifier (>= 100); "
                                     "10% of them are held out to report its accuracy.")
  classifier_epochs: int = _option(3, "Epochs of the FID classifier (>= 1).")
  realfake_epochs: int = _option(3, "Epochs of the real-vs-fake classifier (>= 1).")
  batch_size: int = _option(100, "Batch size for generating images and features (>= 1).")
  seed: int = _option(0, "Seed of z, labels, real-image order, projections and classifiers.")
  cache_dir: str = _option("", "Cache of classifiers and real features; empty = $DCGAN_TF_CACHE "
                           "or ~/.cache/dcgan_tf.")


def parse_metrics(text):
  names = [m.strip() for m in text.split(",") if m.strip()]
  bad = [m for m in names if m not in METRICS]
  if bad or not names:
    raise ValueError(f"--metrics: unknown {', '.join(bad) or '(none given)'}; valid: "
                     f"{', '.join(METRICS)}")
  return names


def validate(options: Options):
  parse_metrics(options.metrics)
  if options.feature_extractor not in FEATURE_EXTRACTORS:
    raise ValueError(f"--feature_extractor: got {options.feature_extractor!r}; valid: "
                     f"{', '.join(FEATURE_EXTRACTORS)}")
  if options.svm_features not in svm_lib.LAYER_CHOICES:
    raise ValueError(f"--svm_features: got {options.svm_features!r}; valid: "
                     f"{', '.join(svm_lib.LAYER_CHOICES)}")
  for name, low in (("num_samples", 2), ("svm_train_examples", 10), ("svm_test_examples", 10),
                    ("classifier_examples", 100), ("classifier_epochs", 1),
                    ("realfake_epochs", 1), ("batch_size", 1)):
    if getattr(options, name) < low:
      raise ValueError(f"--{name}: must be >= {low}, got {getattr(options, name)}")
  if not options.svm_c > 0:
    raise ValueError(f"--svm_c: must be > 0, got {options.svm_c}")


def cache_dir(options: Options) -> str:
  return (options.cache_dir or os.environ.get("DCGAN_TF_CACHE")
          or os.path.join(os.path.expanduser("~"), ".cache", "dcgan_tf"))


def _slug(*parts) -> str:
  """A file-name-safe key; long or path-like parts get a short hash."""
  text = "_".join(str(p) for p in parts)
  safe = re.sub(r"[^A-Za-z0-9.=-]+", "-", text).strip("-")
  if len(safe) > 80 or safe != text.replace("_", "-"):
    safe = safe[:60] + "-" + hashlib.sha1(text.encode()).hexdigest()[:10]
  return safe


# ------------------------------------------------------------------------- data

def load_images(config, num, seed, split=None, dataset=None):
  """Up to `num` (None: all) preprocessed images of a dataset: (float32 [n, S, S, C] in [-1, 1],
  int32 [n], num_classes). Shuffled with `seed` (buffer >= num); S and C are the run's."""
  wanted = num
  num = num or 10 ** 6
  cfg = config.replace(dataset=dataset or config.dataset, split=split or config.split,
                       cache="none", shuffle_buffer=max(config.shuffle_buffer, min(num, 60000)))
  # Batches of 1 so drop_remainder drops nothing, re-batched for speed.
  ds, source = data_lib.make_dataset(cfg, batch_size=1, seed=seed, repeat=False)
  images, labels = [], []
  for x, y in ds.unbatch().batch(500).take(-(-num // 500)):
    images.append(x.numpy())
    labels.append(y.numpy())
  if not images:
    raise ValueError(f"--dataset={cfg.dataset}: split {cfg.split!r} has no images")
  images, labels = np.concatenate(images)[:num], np.concatenate(labels)[:num]
  if wanted and len(images) < wanted:
    logging.warning("%s/%s has only %d images (wanted %d)", cfg.dataset, cfg.split, len(images), num)
  return images, labels.astype(np.int32), source.num_classes


# ---------------------------------------------------------------------- context

class Context:
  """One evaluation's lazily computed inputs, shared between metrics."""

  def __init__(self, run: sample_lib.Run, options: Options):
    self.run, self.options, self.config = run, options, run.config
    self.cache = cache_dir(options)

  @functools.cached_property
  def fake(self):
    return sample_lib.sample(self.run, self.options.num_samples, self.options.seed)

  @functools.cached_property
  def real(self):
    return load_images(self.config, self.options.num_samples, self.options.seed)[0]

  @functools.cached_property
  def extractor(self):
    if self.options.feature_extractor == "inception":
      return extractors.inception(self.options.inception_weights)
    model, info = self.classifier
    return extractors.ClassifierFeatures(model, f"classifier:{info['key']}")

  @functools.cached_property
  def classifier(self):
    """(trained classifier.py model, info dict); trained once per dataset/size, then cached."""
    c, o = self.config, self.options
    key = _slug(c.dataset, c.split, f"{c.image_size}x{c.image_size}x{c.channels}",
                f"n{o.classifier_examples}", f"e{o.classifier_epochs}", f"s{o.seed}")
    path = os.path.join(self.cache, f"classifier_{key}.keras")
    info_path = path[:-len(".keras")] + ".json"
    if os.path.isfile(path) and os.path.isfile(info_path):
      with open(info_path) as f:
        return classifier_lib.load(path), json.load(f)
    images, labels, num_classes = load_images(c, o.classifier_examples, o.seed + 1)
    if num_classes < 2:
      raise ValueError(f"--feature_extractor=classifier: dataset {c.dataset!r} has no class labels; "
                       "use --feature_extractor=inception")
    held = max(1, len(images) // 10)
    logging.info("Training the FID classifier on %d %s images (%d epochs)", len(images) - held,
                 c.dataset, o.classifier_epochs)
    model = classifier_lib.train_classifier(images[held:], labels[held:], num_classes,
                                            epochs=o.classifier_epochs, seed=o.seed)
    info = dict(key=key, num_classes=num_classes, train_examples=len(images) - held,
                held_out_accuracy=classifier_lib.accuracy(model, images[:held], labels[:held]))
    classifier_lib.save(model, path)
    with open(info_path, "w") as f:
      json.dump(info, f)
    return model, info

  @functools.cached_property
  def fake_features(self):
    return self.extractor(self.fake)

  @functools.cached_property
  def real_features(self):
    """(features, logits) of the real images, cached on disk per data/extractor/N/seed."""
    c, o = self.config, self.options
    key = _slug(c.dataset, c.split, f"{c.image_size}x{c.image_size}x{c.channels}",
                self.extractor.name, f"n{o.num_samples}", f"s{o.seed}")
    path = os.path.join(self.cache, f"real_features_{key}.npz")
    if os.path.isfile(path):
      with np.load(path) as saved:
        return saved["features"], saved["logits"]
    features, logits = self.extractor(self.real)
    os.makedirs(self.cache, exist_ok=True)
    tmp = path[:-4] + f".tmp{os.getpid()}.npz"
    np.savez(tmp, features=features, logits=logits)
    os.replace(tmp, path)
    return features, logits


# ---------------------------------------------------------------------- metrics

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
  mean, std = is_lib.inception_score(ctx.fake_features[1])
  real, _ = is_lib.inception_score(ctx.real_features[1])
  return _with_extractor(ctx, dict(value=mean, std=std, real_data_value=real))


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


def svm_data(config, options):
  """((train images, labels), (test images, labels), num_classes) at the run's size/channels."""
  dataset = options.svm_dataset or config.dataset
  if dataset in SINGLE_SPLIT:
    from sklearn.model_selection import train_test_split
    images, labels, num_classes = load_images(config, None, options.seed, dataset=dataset)
    x_tr, x_te, y_tr, y_te = train_test_split(images, labels, test_size=0.5, stratify=labels,
                                              random_state=options.seed)
    train = (x_tr[:options.svm_train_examples], y_tr[:options.svm_train_examples])
    test = (x_te[:options.svm_test_examples], y_te[:options.svm_test_examples])
  else:
    *train, num_classes = load_images(config, options.svm_train_examples, options.seed,
                                      split="train", dataset=dataset)
    *test, _ = load_images(config, options.svm_test_examples, options.seed, split="test",
                           dataset=dataset)
  if num_classes < 2:
    raise ValueError(f"--svm_dataset: {dataset!r} has no class labels; pick a labelled dataset "
                     "(digits, mnist, fashion_mnist, cifar10)")
  return tuple(train), tuple(test), num_classes


def restore_d_batch_norm(ctx):
  """D's BN statistics when the checkpoint lacks them (see sample_lib.load_run): those of
  one training-mode pass over real and generated images together, as D saw both."""
  run = ctx.run
  if not run.d_bn_missing:
    return "checkpoint"
  n = min(512, len(ctx.real), len(ctx.fake))
  images = np.concatenate([ctx.real[:n], ctx.fake[:n]])
  labels = sample_lib.random_labels(len(images), run.num_classes, ctx.options.seed)
  d = run.discriminator
  sample_lib.reestimate_batch_norm(d, lambda: d(images, labels, training=True) if run.num_classes
                                   else d(images, training=True))
  run.d_bn_missing = False
  return f"re-estimated from {n} real + {n} generated images (not in the checkpoint)"


def metric_svm(ctx):
  o = ctx.options
  bn_statistics = restore_d_batch_norm(ctx)
  train, test, num_classes = svm_data(ctx.config, o)
  # Control: the same protocol on an untrained D shows what training added.
  _, random_d = models.build_models(ctx.config, ctx.run.num_classes)
  rows = svm_lib.protocol(ctx.run.discriminator, train, test, layers=o.svm_features, c=o.svm_c,
                          random_discriminator=random_d, batch_size=o.batch_size)
  table = svm_lib.format_table(rows, num_classes, len(train[1]), len(test[1]))
  return dict(value=rows[0]["accuracy"], dataset=o.svm_dataset or ctx.config.dataset,
              features=o.svm_features, train_examples=len(train[1]), test_examples=len(test[1]),
              chance=1.0 / num_classes, rows=rows, table=table, d_bn_statistics=bn_statistics)


METRIC_FNS = {"fid": metric_fid, "kid": metric_kid, "is": metric_is, "swd": metric_swd,
              "svm": metric_svm, "realfake": metric_realfake}


# ---------------------------------------------------------------------- outputs

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
  path = os.path.join(workdir, "eval", f"step_{step:07d}.json")
  os.makedirs(os.path.dirname(path), exist_ok=True)
  merged = results
  if os.path.isfile(path):
    with open(path) as f:
      merged = json.load(f)
    merged["metrics"].update(results["metrics"])
    merged.update({k: v for k, v in results.items() if k != "metrics"})
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(merged, f, indent=2, sort_keys=True)
  os.replace(tmp, path)
  writer = tf.summary.create_file_writer(os.path.join(workdir, "tensorboard", "eval"))
  with writer.as_default(step=step):
    for tag, value in scalars(results).items():
      tf.summary.scalar(tag, value)
    if "svm" in results["metrics"]:
      tf.summary.text("svm_table", results["metrics"]["svm"]["table"])
  writer.close()
  return path


def evaluate(workdir: str, options: Options) -> dict:
  """Runs the requested metrics on one checkpoint; returns (and writes) the results dict."""
  validate(options)
  names = parse_metrics(options.metrics)
  run = sample_lib.load_run(workdir, options.checkpoint)
  ctx = Context(run, options)
  results = dict(workdir=os.path.abspath(workdir), checkpoint=run.checkpoint, step=run.step,
                 dataset=run.config.dataset, split=run.config.split, variant=run.config.variant,
                 num_samples=options.num_samples, seed=options.seed,
                 g_bn_statistics=run.bn_statistics, metrics={}, seconds={})
  for name in names:
    t0 = time.perf_counter()
    results["metrics"][name] = METRIC_FNS[name](ctx)
    results["seconds"][name] = round(time.perf_counter() - t0, 2)
    logging.info("%s: %s (%.1fs)", name, results["metrics"][name]["value"],
                 results["seconds"][name])
  results["file"] = write_results(workdir, results)
  return results
