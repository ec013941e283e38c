"""`python -m dcgan_tf.evaluate` settings and their checks; no TensorFlow, so --help and a
bad flag answer before TensorFlow loads."""

import dataclasses

from dcgan_tf.config import option, parse_truncations, saved_model_option, use_ema_option
from dcgan_tf.errors import check

METRICS = ("fid", "kid", "is", "swd", "svm", "realfake", "class_accuracy", "precision",
           "recall", "density", "coverage", "memorization", "intra_fid")
ALIASES = {"prdc": ("precision", "recall", "density", "coverage")}  # one name for the four
FEATURE_EXTRACTORS = ("inception", "classifier")
SVM_FEATURES = ("all", "last")  # D layers the SVM reads: every conv layer, or the last


@dataclasses.dataclass
class Options:
  """Evaluation settings; the help texts double as evaluate's --help."""
  workdir: str = option(None, "Training workdir (config.json, checkpoints/).", required=True)
  metrics: str = option("swd", "Comma-separated metrics: " + ", ".join(METRICS) + "; prdc = "
                        "precision,recall,density,coverage (metrics/manifold.py; on "
                        "--feature_extractor features like fid; memorization against the "
                        "run's whole training split).")
  num_samples: int = option(2000, "Generated images, and real images, per metric (>= 2). "
                             "FID/KID are biased by N: compare numbers made with one N.")
  saved_model: str = saved_model_option()
  use_ema: bool = use_ema_option()
  checkpoint: str = option("", "Checkpoint to evaluate: empty = newest, a step number (500), or "
                            "a path prefix (W/checkpoints/ckpt-500).")
  real_split: str = option("", "Split of the run's dataset that real images (and the FID "
                           "classifier) come from; empty = the run's own. E.g. test, to compare "
                           "a small-data run (--split=train[:2000]) with held-out images.")
  real_pool: int = option(0, "Draw the real images from the first N images of that split in "
                          "its stored order (>= 0; 0 = all of it): bounds the read on a large "
                          "dataset; a run's final export choice uses 100,000 on larger ones.")
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
  truncation: str = option("", "Comma-separated t > 0 (e.g. 0.5,1,2): also score G with z "
                           "truncated at each t (the export's generate_truncated): the "
                           "quality/diversity curve, in the JSON's truncation_curve and "
                           "W/eval/truncation_step_N.png. Empty = none.")
  fake_split: str = option("", "Score real images of this split of the run's dataset in G's "
                           "place (e.g. test): the value each metric gives fresh data, the row "
                           "to read G's numbers against (memorization's base rate).")
  seed: int = option(0, "Seed of z, labels, real-image order, projections and classifiers.")
  cache_dir: str = option("", "Cache of classifiers and real features; empty = $DCGAN_TF_CACHE "
                           "or ~/.cache/dcgan_tf.")


def parse_metrics(text):
  """--metrics as metric names, aliases expanded, each once in the order given."""
  names = [m.strip() for m in text.split(",") if m.strip()]
  bad = [m for m in names if m not in METRICS and m not in ALIASES]
  check(names and not bad, "metrics", f"unknown {', '.join(bad) or '(none given)'}; valid: "
        f"{', '.join(METRICS + tuple(ALIASES))}")
  expanded = [m for name in names for m in ALIASES.get(name, (name,))]
  return list(dict.fromkeys(expanded))


def truncations(options: Options) -> list:
  """--truncation as floats > 0 ([] when empty); UserError naming the field otherwise."""
  values = parse_truncations(options.truncation)
  check(not (values and options.fake_split), "truncation",
        "scores G's samples; fake_split replaces them")
  return values


def validate(options: Options):
  parse_metrics(options.metrics)
  truncations(options)
  for name, choices in (("feature_extractor", FEATURE_EXTRACTORS),
                        ("svm_features", SVM_FEATURES)):
    value = getattr(options, name)
    check(value in choices, name, f"got {value!r}; valid: {', '.join(choices)}")
  for name, low in (("num_samples", 2), ("svm_train_examples", 10), ("svm_test_examples", 10),
                    ("classifier_examples", 100), ("classifier_epochs", 1),
                    ("realfake_epochs", 1), ("batch_size", 1), ("real_pool", 0)):
    check(getattr(options, name) >= low, name, f"must be >= {low}, got {getattr(options, name)}")
  check(options.svm_c > 0, "svm_c", f"must be > 0, got {options.svm_c}")
