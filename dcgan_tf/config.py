"""The experiment configuration: one dataclass, one comment (help text) per field.

A run's Config is built in three layers, each overriding the last:
  1. `Config()` defaults below (the DCGAN paper's settings),
  2. a config file `configs/NAME.py` whose `get_config()` returns a Config,
  3. single-field overrides from the command line (`--batch_size=64`).
The effective Config is saved as JSON in the workdir (`config.json`), so a run
can be resumed or reproduced from its workdir alone.
"""

import dataclasses
import importlib.util
import json
import math
import os
from typing import Any, Dict, Optional

from absl import logging

from dcgan_tf.errors import UserError, check

# Repository-level folder holding one config file per experiment.
CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")

# Named datasets (data/sources.py has one source per name) and the two open-ended forms.
DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10", "celeba", "lsun_church", "lsun_bedroom",
            "pets", "cars")
DATASET_PREFIXES = ("tfds:", "folder:")
VARIANTS = ("gan", "dcgan", "cdcgan", "cdcgan_projection", "sngan")
# Variants whose networks take class labels (config.num_classes > 0).
CONDITIONAL_VARIANTS = ("cdcgan", "cdcgan_projection")
IMAGE_SIZES = (32, 64, 128)
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
OPTIMIZERS = ("adam", "rmsprop")
STRATEGIES = ("auto", "default", "mirrored", "multiworker", "tpu")
JIT_MODES = ("auto", "on", "off")
CONV_IMPLS = ("auto", "keras", "subpixel")
LOSSES = ("nonsaturating", "hinge", "least_squares")
AUGMENT_POLICIES = ("color", "translation", "cutout")
# During training; --eval_best takes the lower-is-better ones (precision and the others of
# metrics/manifold.py are higher-is-better, density ~1 ideal).
EVAL_METRICS = ("fid", "kid", "swd", "precision", "recall", "density", "coverage")
EVAL_BEST_METRICS = ("fid", "kid", "swd")
EXPORT_GENERATORS = ("best", "ema", "trained")

# Fields that define what a workdir's checkpoints are: a rerun that changes one
# of them cannot resume from them.
IDENTITY_FIELDS = ("dataset", "variant", "image_size", "channels", "latent_dim",
                   "gen_filters", "disc_filters", "num_classes", "embedding_dim", "mlp_units",
                   "maxout_pieces", "ema_decay")
# Identity fields that shape only one variant's networks: compared only for that variant.
VARIANT_ONLY_FIELDS = {"mlp_units": ("gan",), "maxout_pieces": ("gan",),
                       "embedding_dim": ("cdcgan",), "num_classes": CONDITIONAL_VARIANTS, "gen_filters": VARIANTS[1:],
                       "disc_filters": VARIANTS[1:]}


def option(default, help_text, **metadata):
  """A dataclass field with its --help text (cli.define_flags makes it a flag). metadata:
  required=True makes the flag required."""
  return dataclasses.field(default=default, metadata={"help": help_text, **metadata})


def saved_model_option():
  """--saved_model of evaluate and sample: an export of the run as G."""
  return option("", "An exported SavedModel of this run (W/saved_model, W/serving/STEP, "
                "W/saved_model_best) to use as G instead of a checkpoint: what is served (the "
                "G it was exported with; --use_ema does not apply). Its metadata must match the "
                "run.")


def use_ema_option():
  """--use_ema of evaluate, sample and export."""
  return option(True, "Use the EMA generator when the run has one (--ema_decay > 0); "
                "--nouse_ema: the trained G.")


@dataclasses.dataclass
class Config:
  """All settings of one experiment. Help texts double as `--help` of the CLIs."""
  # --- data ---
  dataset: str = option("digits", "Dataset: digits | mnist | fashion_mnist | cifar10 | celeba | "
                        "lsun_church | lsun_bedroom | pets | cars | tfds:NAME[/CONFIG] | folder:PATH.")
  image_size: int = option(32, "Square image side in pixels: 32, 64 or 128.")
  channels: int = option(1, "Image channels: 1 (grayscale) or 3 (RGB); images are converted.")
  center_crop: int = option(0, "Crop the central NxN pixels before resizing (CelebA: 108, the "
                            "DCGAN convention); 0 = none: resize the shorter side to image_size "
                            "and keep the center square.")
  data_dir: str = option("", "TFDS data_dir, or the folder holding local IDX .gz files (mnist, "
                         "fashion_mnist). Empty: TFDS default / Debian's dataset folders.")
  manual_dir: str = option("", "TFDS manual_dir for datasets whose download must be placed by hand.")
  split: str = option("train", "Dataset split to train on.")
  cache: str = option("memory", "Cache decoded images: 'memory', 'none', or a file path prefix.")
  shuffle_buffer: int = option(10000, "Shuffle buffer size in examples (>= 1); 1 = no "
                               "shuffling, files too: the split in its stored order.")
  random_flip: bool = option(False, "Random horizontal flips (off in the DCGAN paper).")
  mnist_augment: bool = option(False, "Random rotation up to 30 degrees and 4-pixel padded random "
                               "crop, as in the conditional-GAN MNIST study.")
  # --- model ---
  variant: str = option("dcgan", "Model family: gan (MLP, Goodfellow 2014) | dcgan | cdcgan "
                        "(conditional: label embeddings in G's and D's inputs) | "
                        "cdcgan_projection (conditional: class-conditional batch norm in G, a "
                        "spectral-norm projection D; Miyato & Koyama 2018) | sngan (spectral "
                        "norm in D, no BN in D).")
  latent_dim: int = option(100, "Size of the noise vector z (>= 1).")
  gen_filters: int = option(64, "Generator width: channels of its last hidden layer (>= 1).")
  disc_filters: int = option(64, "Discriminator width: channels of its first layer (>= 1).")
  num_classes: int = option(0, "Classes for the conditional variant; 0 = from the dataset "
                            "(config.json records the count trained with).")
  embedding_dim: int = option(50, "Label embedding size of the conditional variant (>= 1).")
  recon_weight: float = option(0.0, "cdcgan: weight of the L1 term |x - G(z, y)| in G's loss (>= 0).")
  mlp_units: int = option(1200, "gan variant: units of each hidden layer of G, and linear units "
                         "of each maxout layer of D (Goodfellow 2014: 1200 = 240 maxout x 5 pieces).")
  maxout_pieces: int = option(5, "gan variant: linear pieces per maxout unit in D (>= 1; divides "
                              "--mlp_units).")
  # --- optimisation ---
  batch_size: int = option(128, "Global batch size, split across replicas (>= 1).")
  train_steps: int = option(0, "Total generator steps; 0 = derive from --epochs.")
  epochs: float = option(25.0, "Passes over the data when --train_steps is 0 (> 0).")
  g_optimizer: str = option("adam", "Generator optimizer: adam | rmsprop.")
  d_optimizer: str = option("adam", "Discriminator optimizer: adam | rmsprop.")
  g_lr: float = option(2e-4, "Generator learning rate (> 0).")
  d_lr: float = option(2e-4, "Discriminator learning rate (> 0).")
  beta_1: float = option(0.5, "Adam beta_1 for both networks, in [0, 1).")
  beta_2: float = option(0.999, "Adam beta_2 for both networks, in [0, 1).")
  label_smoothing: float = option(0.0, "One-sided label smoothing: real target is 1 - this, [0, 0.5).")
  d_steps: int = option(1, "Discriminator steps per generator step (Goodfellow's k, >= 1).")
  loss: str = option("nonsaturating", "GAN loss: nonsaturating (the DCGAN papers') | hinge (the "
                     "spectral-norm paper's best) | least_squares (LSGAN); losses.py.")
  augment: str = option("", "DiffAugment for small datasets (a few thousand images): any of "
                        "translation,cutout,color, applied to real and generated images "
                        "wherever D sees them; empty = off (augment.py).")
  augment_p: str = option("1", "Probability that each --augment policy is applied to an image: "
                          "a number in [0, 1], or auto: adapted during training from D's "
                          "overfitting (ADA, Karras et al. 2020; augment.py), starting at 0, "
                          "logged as augment_p and checkpointed.")
  ema_decay: float = option(0.999, "EMA generator: largest decay of the moving average of G's "
                            "weights after each step (train/ema.py); its samples are used for "
                            "grids, sample, evaluate and the export. In [0, 1); 0 = off.")
  ema_rampup: float = option(0.02, "EMA generator: the average's half-life grows as this "
                             "fraction of the steps taken, up to --ema_decay's (StyleGAN2-ADA's "
                             "ramp-up; 0.02: 30 steps at step 1,500, 120 at 6,000). In [0, 1]; "
                             "0 = a step-count warm-up, min(decay, (1 + t) / (10 + t)).")
  ema_stat_samples: int = option(4096, "EMA generator: z drawn to recompute its batch-norm "
                                 "statistics before a grid, checkpoint, evaluation or export "
                                 "(2 to 256, or a multiple of 256: batches of 256). Fewer "
                                 "cost less per checkpoint, estimated more roughly.")
  # --- run ---
  seed: int = option(0, "Seed for weights, noise and data order.")
  log_every: int = option(50, "Steps between scalar logs (>= 1).")
  sample_every: int = option(500, "Steps between sample grids (>= 1).")
  checkpoint_every: int = option(500, "Steps between checkpoints (>= 1).")
  keep_checkpoints: int = option(3, "Checkpoints to keep (>= 1).")
  num_grid_samples: int = option(64, "Fixed-noise samples in each grid (a square number looks best).")
  precision: str = option("auto", "auto | float32 | mixed_float16 | mixed_bfloat16. auto: "
                          "mixed_float16 on a GPU, mixed_bfloat16 on a TPU, float32 on CPUs.")
  jit_compile: str = option("auto", "XLA for the train step: auto | on | off. auto: on for one "
                            "CPU device (measured faster), off under a tf.distribute strategy, "
                            "else Keras' choice.")
  steps_per_execution: str = option("auto", "Train steps per tf.function call: auto | N >= 1. "
                                    "auto: 1 on CPUs; on a GPU/TPU the largest N <= 32 dividing "
                                    "every --*_every period (the host runs once per N steps).")
  strategy: str = option("auto", "tf.distribute strategy: auto | default | mirrored | "
                         "multiworker | tpu.")
  require_gpu: bool = option(False, "Stop with an error when TensorFlow sees no GPU (instead "
                             "of a warning and a run on the CPU).")
  max_rollbacks: int = option(3, "Non-finite loss: roll back to the last checkpoint at most this "
                              "many times, then stop (>= 0).")
  eval_every: int = option(0, "Steps between evaluations during training (>= 0; 0 = off): "
                           "--eval_metrics on --eval_samples fixed samples, logged to "
                           "TensorBoard (eval/*); the best checkpoint is kept apart and exported "
                           "as saved_model_best (train/evaluation.py).")
  eval_metrics: str = option("auto", "Metrics during training and of the export's choice "
                             "(--export_generator=best): auto (fid,kid with the dataset's "
                             "cached classifier when it exists, else swd) or any of fid,kid,swd,"
                             "precision,recall,density,coverage.")
  eval_samples: int = option(2000, "Generated (and real) images per evaluation during training "
                             "and of the export's choice (>= 2); FID/KID depend on it: compare "
                             "runs with one value.")
  eval_best: str = option("", "Metric (lower is better) whose best value keeps a checkpoint "
                          "(--eval_every) and picks the exported G (--export_generator=best); "
                          "empty = the first of --eval_metrics among fid, kid, swd.")
  conv_impl: str = option("auto", "Stride-2 4x4 convolutions: keras (Keras' layers) | subpixel "
                          "(the same layers and weights, computed as four interleaved 2x2 "
                          "convolutions: ~2x faster on CPUs) | auto (subpixel on machines without "
                          "a GPU, keras elsewhere).")
  export: bool = option(True, "Export a SavedModel to WORKDIR/saved_model at the end.")
  export_generator: str = option("best", "The G the final export ships when the run has an EMA "
                                 "G: best (the better of the EMA and the trained G at the last "
                                 "step by --eval_best on --eval_samples samples: one evaluation "
                                 "of each; 12-15 s at 32x32 on 2 CPU cores, plus reading the "
                                 "real images: at most 100,000 of the split), ema, or trained.")

  def replace(self, **kw) -> "Config":
    return dataclasses.replace(self, **kw)

  def to_dict(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)

  def to_json(self) -> str:
    """The config as config.json holds it; the training log and TensorBoard show the same."""
    return json.dumps(self.to_dict(), indent=2, sort_keys=True)

  @classmethod
  def from_dict(cls, data: Dict[str, Any]) -> "Config":
    """Config from a saved dict; unknown keys (fields since removed) are ignored."""
    known = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in known})


def parse_truncations(text: str) -> list:
  """--truncation of sample and evaluate: comma-separated t > 0 -> floats ([] when empty);
  UserError naming the field for anything else (NaN included)."""
  try:
    values = [float(t) for t in text.split(",")] if text else []
  except ValueError:
    values = [0.0]
  if not all(t > 0 for t in values):  # NaN > 0 is False too
    raise UserError(f"want comma-separated numbers > 0, got {text!r}", "truncation")
  return values


def chooses_export(config: Config) -> bool:
  """Whether the final export is chosen between the EMA and the trained G by an evaluation."""
  return (config.export and config.export_generator == "best" and config.ema_decay > 0
          and config.strategy != "multiworker")  # (multi-worker runs do not evaluate)


def augment_policies(text: str):
  """--augment 'cutout,translation' -> (('translation', 'cutout'), []): the known policies
  in AUGMENT_POLICIES order, and the unknown names."""
  names = {p.strip() for p in text.split(",") if p.strip()}
  return (tuple(p for p in AUGMENT_POLICIES if p in names),
          sorted(names - set(AUGMENT_POLICIES)))


def available_configs():
  if not os.path.isdir(CONFIG_DIR):
    return []
  return sorted(f[:-3] for f in os.listdir(CONFIG_DIR)
                if f.endswith(".py") and not f.startswith("_"))


def load_config_file(name_or_path: str) -> Config:
  """Loads `configs/NAME.py` (or a path to a .py file), logs its path, returns its get_config()."""
  path = name_or_path
  if not path.endswith(".py"):
    path = os.path.join(CONFIG_DIR, name_or_path + ".py")
  if not os.path.isfile(path):
    raise UserError(f"no config file {path!r}; available: {', '.join(available_configs())}",
                    "config")
  spec = importlib.util.spec_from_file_location(
      "dcgan_tf_config_" + os.path.basename(path)[:-3], path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  if not hasattr(module, "get_config"):
    raise UserError(f"{path} defines no get_config()", "config")
  logging.info("Config file: %s", os.path.abspath(path))
  return module.get_config()


def resolve_config(config_name: Optional[str], overrides: Dict[str, Any]) -> Config:
  """Default -> config file -> overrides (None values are not overrides).

  Without `config_name`, `--dataset=NAME` picks `configs/NAME.py` when it exists
  (so `--dataset=celeba` gets CelebA's paper settings), else the defaults.
  """
  overrides = {k: v for k, v in overrides.items() if v is not None}
  if not config_name:
    dataset = overrides.get("dataset", Config().dataset)
    if dataset in available_configs():
      config_name = dataset
  config = load_config_file(config_name) if config_name else Config()
  config = config.replace(**overrides)
  validate(config)
  return config


def _check_choice(config, name, choices):
  value = getattr(config, name)
  check(value in choices, name, f"got {value!r}; valid: {', '.join(map(str, choices))}")


def validate(config: Config) -> None:
  """Raises UserError naming the field and the valid values for any bad one."""
  for name, choices in (("variant", VARIANTS), ("image_size", IMAGE_SIZES), ("channels", (1, 3)),
                        ("precision", PRECISIONS), ("g_optimizer", OPTIMIZERS),
                        ("d_optimizer", OPTIMIZERS), ("strategy", STRATEGIES),
                        ("jit_compile", JIT_MODES), ("conv_impl", CONV_IMPLS),
                        ("export_generator", EXPORT_GENERATORS)):
    _check_choice(config, name, choices)
  for name in ("latent_dim", "gen_filters", "disc_filters", "batch_size", "d_steps", "log_every",
               "sample_every", "checkpoint_every", "keep_checkpoints", "num_grid_samples",
               "shuffle_buffer", "embedding_dim", "mlp_units",
               "maxout_pieces"):
    check(getattr(config, name) >= 1, name, f"must be >= 1, got {getattr(config, name)}")
  for name in ("train_steps", "epochs", "num_classes", "recon_weight", "max_rollbacks",
               "center_crop"):
    check(getattr(config, name) >= 0, name, f"must be >= 0, got {getattr(config, name)}")
  for name in ("g_lr", "d_lr"):
    value = getattr(config, name)
    check(value > 0 and math.isfinite(value), name, f"must be a finite number > 0, got {value}")
  for name in ("beta_1", "beta_2"):
    check(0 <= getattr(config, name) < 1, name, f"must be in [0, 1), got {getattr(config, name)}")
  spe = str(config.steps_per_execution)
  check(spe == "auto" or (spe.isdigit() and int(spe) >= 1), "steps_per_execution",
        f"must be auto or an integer >= 1, got {config.steps_per_execution!r}")
  _check_choice(config, "loss", LOSSES)
  check(config.label_smoothing == 0 or config.loss != "hinge", "label_smoothing",
        "hinge has no target to smooth; use loss=nonsaturating or least_squares")
  policies, unknown = augment_policies(config.augment)
  check(not unknown, "augment", f"unknown {', '.join(unknown)}; valid: any of "
        f"{', '.join(AUGMENT_POLICIES)} (comma-separated), or empty")
  check(0 <= config.ema_decay < 1, "ema_decay", f"must be in [0, 1), got {config.ema_decay}")
  check(config.augment_p == "auto" or 0 <= _number(config.augment_p) <= 1, "augment_p",
        f"want a number in [0, 1] or auto, got {config.augment_p!r}")
  check(bool(policies) or _number(config.augment_p) == 1, "augment_p",
        f"{config.augment_p} needs --augment policies to apply (e.g. translation,cutout)")
  check(0 <= config.ema_rampup <= 1, "ema_rampup", f"must be in [0, 1], got {config.ema_rampup}")
  n = config.ema_stat_samples  # batches of 256 (train/ema.py); a batch variance needs 2
  check(2 <= n <= 256 or n % 256 == 0, "ema_stat_samples",
        f"must be 2 to 256 or a multiple of 256, got {n}")
  check(config.eval_every >= 0, "eval_every", f"must be >= 0 (0 = off), got {config.eval_every}")
  check(config.eval_samples >= 2, "eval_samples", f"must be >= 2, got {config.eval_samples}")
  metrics = [m.strip() for m in config.eval_metrics.split(",") if m.strip()]
  check(metrics == ["auto"] or metrics and set(metrics) <= set(EVAL_METRICS), "eval_metrics",
        f"got {config.eval_metrics!r}; valid: auto, or any of {', '.join(EVAL_METRICS)}")
  check(config.eval_samples > 5 or not set(metrics) & {"precision", "recall", "density",
                                                       "coverage"}, "eval_samples",
        f"precision, recall, density and coverage need more than 5 (k nearest neighbours), "
        f"got {config.eval_samples}")
  check(not config.eval_best or config.eval_best in EVAL_BEST_METRICS and (
      metrics == ["auto"] or config.eval_best in metrics), "eval_best",
        f"got {config.eval_best!r}; valid: one of eval_metrics ({config.eval_metrics}) "
        f"that is lower-is-better ({', '.join(EVAL_BEST_METRICS)})")
  check(config.export_generator != "ema" or config.ema_decay > 0, "export_generator",
        "ema needs an EMA generator (ema_decay > 0)")
  check(config.eval_every or chooses_export(config) or not config.eval_best
        and config.eval_metrics == "auto", "eval_best" if config.eval_best else "eval_metrics",
        "only used with eval_every=N (evaluation during training) or an exported EMA G chosen "
        "by score (export, export_generator=best); set one, or leave eval_best and "
        "eval_metrics at their defaults")
  check(config.eval_every or not chooses_export(config) or metrics == ["auto"]
        or set(metrics) & set(EVAL_BEST_METRICS), "eval_metrics",
        f"export_generator=best picks by a lower-is-better metric: add one of "
        f"{', '.join(EVAL_BEST_METRICS)} to {config.eval_metrics!r}")
  check(not config.eval_every or config.strategy != "multiworker", "eval_every",
        "not available with strategy=multiworker; evaluate its checkpoints with "
        "python -m dcgan_tf.evaluate")
  check(0 <= config.label_smoothing < 0.5, "label_smoothing",
        f"must be in [0, 0.5), got {config.label_smoothing}")
  check(0 <= config.seed < 2 ** 32, "seed",  # numpy's and Keras' global seeding range
        f"must be in [0, 2**32 - 1], got {config.seed}")
  check(bool(config.cache), "cache", "empty; valid: memory, none, or a file path prefix")
  # Variant-specific settings that would otherwise be silently ignored or fail late.
  check(config.recon_weight == 0 or config.variant in CONDITIONAL_VARIANTS, "recon_weight",
        f"only the conditional variants use it (got {config.recon_weight} with variant="
        f"{config.variant}); set recon_weight=0")
  check(config.variant != "gan" or config.mlp_units % config.maxout_pieces == 0, "mlp_units",
        f"must be a multiple of maxout_pieces={config.maxout_pieces}, got {config.mlp_units}")
  check(config.train_steps > 0 or config.epochs > 0, "train_steps",
        "set train_steps or epochs to a positive number")
  check(config.dataset in DATASETS or config.dataset.startswith(DATASET_PREFIXES)
        and len(config.dataset) > 5, "dataset",
        f"unknown dataset {config.dataset!r}; valid: {', '.join(DATASETS)}, tfds:NAME[/CONFIG], "
        "folder:PATH")
  for name in ("data_dir", "manual_dir"):
    path = getattr(config, name)
    check(not path or os.path.isdir(os.path.expanduser(path)), name,
          f"folder {path!r} does not exist (create it first; empty = the default location)")


def _number(text: str) -> float:
  """float(text), or NaN when it is not a number (NaN fails every range check)."""
  try:
    return float(text)
  except (TypeError, ValueError):
    return float("nan")


def augment_probability(text: str):
  """--augment_p (validated) -> a float in [0, 1], or None for auto."""
  return None if text == "auto" else float(text)


def resolve_classes(config: Config, dataset_classes: int = 0) -> Config:
  """`config` with num_classes = the label classes its networks take, which builders and
  exports read: 0 unless conditional; else its own count, the dataset's, or 1 (unlabelled
  data is one class).

  dataset_classes: classes of the dataset's labels (0 = unlabelled, or no dataset at hand).
  Raises UserError when num_classes contradicts a labelled dataset: an embedding smaller
  than the label range fails at the first step, a larger one wastes rows.
  """
  if config.variant not in CONDITIONAL_VARIANTS:
    return config.replace(num_classes=0)
  check(not (config.num_classes and dataset_classes) or config.num_classes == dataset_classes,
        "num_classes", f"{config.num_classes} does not match the {dataset_classes} classes of "
        f"dataset={config.dataset}; set num_classes={dataset_classes} or 0 (take it from the "
        "dataset)")
  return config.replace(num_classes=config.num_classes or dataset_classes or 1)


def identity_conflicts(saved: Config, new: Config):
  """Identity fields whose values differ, as (field, saved, new) tuples."""
  def relevant(name):
    return new.variant in VARIANT_ONLY_FIELDS.get(name, (new.variant,))
  return [(name, getattr(saved, name), getattr(new, name)) for name in IDENTITY_FIELDS
          if relevant(name) and getattr(saved, name) != getattr(new, name)]
