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

# Repository-level folder holding one config file per experiment.
CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")

# Named datasets (data.py has one source per name) and the two open-ended forms.
DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10", "celeba", "lsun_church", "lsun_bedroom",
            "pets", "cars")
DATASET_PREFIXES = ("tfds:", "folder:")
VARIANTS = ("gan", "dcgan", "cdcgan", "sngan")
IMAGE_SIZES = (32, 64, 128)
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
OPTIMIZERS = ("adam", "rmsprop")
STRATEGIES = ("auto", "default", "mirrored", "multiworker", "tpu")
JIT_MODES = ("auto", "on", "off")

# Fields that define what a workdir's checkpoints are: a rerun that changes one
# of them cannot resume from them.
IDENTITY_FIELDS = ("dataset", "variant", "image_size", "channels", "latent_dim",
                   "gen_filters", "disc_filters", "num_classes", "embedding_dim", "mlp_units",
                   "maxout_pieces")
# Identity fields that shape only one variant's networks: compared only for that variant.
VARIANT_ONLY_FIELDS = {"mlp_units": "gan", "maxout_pieces": "gan", "embedding_dim": "cdcgan",
                       "gen_filters": "!gan", "disc_filters": "!gan"}


def _field(default, help_text):
  return dataclasses.field(default=default, metadata={"help": help_text})


@dataclasses.dataclass
class Config:
  """All settings of one experiment. Help texts double as `--help` of the CLIs."""
  # --- data ---
  dataset: str = _field("digits", "Dataset: digits | mnist | fashion_mnist | cifar10 | celeba | "
                        "lsun_church | lsun_bedroom | pets | cars | tfds:NAME[/CONFIG] | folder:PATH.")
  image_size: int = _field(32, "Square image side in pixels: 32, 64 or 128.")
  channels: int = _field(1, "Image channels: 1 (grayscale) or 3 (RGB); images are converted.")
  center_crop: int = _field(0, "Crop the central NxN pixels before resizing (CelebA: 108, the "
                            "DCGAN convention); 0 = none: resize the shorter side to image_size "
                            "and keep the center square.")
  data_dir: str = _field("", "TFDS data_dir, or the folder holding local IDX .gz files (mnist, "
                         "fashion_mnist). Empty: TFDS default / Debian's dataset folders.")
  manual_dir: str = _field("", "TFDS manual_dir for datasets whose download must be placed by hand.")
  split: str = _field("train", "Dataset split to train on.")
  cache: str = _field("memory", "Cache decoded images: 'memory', 'none', or a file path prefix.")
  shuffle_buffer: int = _field(10000, "Shuffle buffer size in examples (>= 1).")
  random_flip: bool = _field(False, "Random horizontal flips (off in the DCGAN paper).")
  mnist_augment: bool = _field(False, "Random rotation up to 30 degrees and 4-pixel padded random "
                               "crop, as in the conditional-GAN MNIST study.")
  # --- model ---
  variant: str = _field("dcgan", "Model family: gan (MLP, Goodfellow 2014) | dcgan | cdcgan "
                        "(conditional) | sngan (spectral norm in D, no BN in D).")
  latent_dim: int = _field(100, "Size of the noise vector z (>= 1).")
  gen_filters: int = _field(64, "Generator width: channels of its last hidden layer (>= 1).")
  disc_filters: int = _field(64, "Discriminator width: channels of its first layer (>= 1).")
  num_classes: int = _field(0, "Classes for the conditional variant; 0 = from the dataset.")
  embedding_dim: int = _field(50, "Label embedding size of the conditional variant (>= 1).")
  recon_weight: float = _field(0.0, "cdcgan: weight of the L1 term |x - G(z, y)| in G's loss (>= 0).")
  mlp_units: int = _field(1200, "gan variant: units of each hidden layer of G, and linear units "
                         "of each maxout layer of D (Goodfellow 2014: 1200 = 240 maxout x 5 pieces).")
  maxout_pieces: int = _field(5, "gan variant: linear pieces per maxout unit in D (>= 1; divides "
                              "--mlp_units).")
  # --- optimisation ---
  batch_size: int = _field(128, "Global batch size, split across replicas (>= 1).")
  train_steps: int = _field(0, "Total generator steps; 0 = derive from --epochs.")
  epochs: float = _field(25.0, "Passes over the data when --train_steps is 0 (> 0).")
  g_optimizer: str = _field("adam", "Generator optimizer: adam | rmsprop.")
  d_optimizer: str = _field("adam", "Discriminator optimizer: adam | rmsprop.")
  g_lr: float = _field(2e-4, "Generator learning rate (> 0).")
  d_lr: float = _field(2e-4, "Discriminator learning rate (> 0).")
  beta_1: float = _field(0.5, "Adam beta_1 for both networks, in [0, 1).")
  beta_2: float = _field(0.999, "Adam beta_2 for both networks, in [0, 1).")
  label_smoothing: float = _field(0.0, "One-sided label smoothing: real target is 1 - this, [0, 0.5).")
  d_steps: int = _field(1, "Discriminator steps per generator step (Goodfellow's k, >= 1).")
  # --- run ---
  seed: int = _field(0, "Seed for weights, noise and data order.")
  log_every: int = _field(50, "Steps between scalar logs (>= 1).")
  sample_every: int = _field(500, "Steps between sample grids (>= 1).")
  checkpoint_every: int = _field(500, "Steps between checkpoints (>= 1).")
  keep_checkpoints: int = _field(3, "Checkpoints to keep (>= 1).")
  num_grid_samples: int = _field(64, "Fixed-noise samples in each grid (a square number looks best).")
  precision: str = _field("auto", "auto | float32 | mixed_float16 | mixed_bfloat16. auto: "
                          "mixed_float16 on a GPU, float32 otherwise.")
  jit_compile: str = _field("auto", "XLA for the train step: auto | on | off. auto: on for one "
                            "CPU device (measured faster), off under a tf.distribute strategy, "
                            "else Keras' choice.")
  steps_per_execution: int = _field(1, "Train steps per tf.function call (>= 1).")
  strategy: str = _field("auto", "tf.distribute strategy: auto | default | mirrored | "
                         "multiworker | tpu.")
  max_rollbacks: int = _field(3, "Non-finite loss: roll back to the last checkpoint at most this "
                              "many times, then stop (>= 0).")
  export: bool = _field(True, "Export a SavedModel to WORKDIR/saved_model at the end.")
  # --- testing aids (fault injection; leave at their defaults for real runs) ---
  debug_nan_step: int = _field(0, "Testing aid: after this generator step, write NaN into a "
                               "generator weight to exercise the non-finite rollback; 0 = off.")
  debug_nan_times: int = _field(1, "Testing aid: how often --debug_nan_step fires in one process "
                                "(>= 1); each rollback passes that step again.")

  def replace(self, **kw) -> "Config":
    return dataclasses.replace(self, **kw)

  def to_dict(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)


def field_help() -> Dict[str, str]:
  return {f.name: f.metadata["help"] for f in dataclasses.fields(Config)}


def field_types() -> Dict[str, type]:
  return {f.name: type(f.default) for f in dataclasses.fields(Config)}


def available_configs():
  if not os.path.isdir(CONFIG_DIR):
    return []
  return sorted(f[:-3] for f in os.listdir(CONFIG_DIR)
                if f.endswith(".py") and not f.startswith("_"))


def load_config_file(name_or_path: str) -> Config:
  """Loads `configs/NAME.py` (or a path to a .py file) and returns its get_config()."""
  path = name_or_path
  if not path.endswith(".py"):
    path = os.path.join(CONFIG_DIR, name_or_path + ".py")
  if not os.path.isfile(path):
    raise FileNotFoundError(
        f"--config: no config file {path!r}; available: {', '.join(available_configs())}")
  spec = importlib.util.spec_from_file_location(
      "dcgan_tf_config_" + os.path.basename(path)[:-3], path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  if not hasattr(module, "get_config"):
    raise ValueError(f"--config: {path} defines no get_config()")
  return module.get_config()


def resolve_config(config_name: Optional[str], overrides: Dict[str, Any]) -> Config:
  """Default -> config file -> overrides.

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


def _check(ok, flag, message):
  if not ok:
    raise ValueError(f"--{flag}: {message}")


def _check_choice(config, name, choices):
  value = getattr(config, name)
  _check(value in choices, name, f"got {value!r}; valid: {', '.join(map(str, choices))}")


def validate(config: Config) -> None:
  """Raises ValueError naming the flag and the valid values for any bad field."""
  _check_choice(config, "variant", VARIANTS)
  _check_choice(config, "image_size", IMAGE_SIZES)
  _check_choice(config, "channels", (1, 3))
  _check_choice(config, "precision", PRECISIONS)
  _check_choice(config, "g_optimizer", OPTIMIZERS)
  _check_choice(config, "d_optimizer", OPTIMIZERS)
  _check_choice(config, "strategy", STRATEGIES)
  _check_choice(config, "jit_compile", JIT_MODES)
  for name in ("latent_dim", "gen_filters", "disc_filters", "batch_size", "d_steps", "log_every",
               "sample_every", "checkpoint_every", "keep_checkpoints", "num_grid_samples",
               "steps_per_execution", "shuffle_buffer", "embedding_dim", "mlp_units",
               "maxout_pieces"):
    _check(getattr(config, name) >= 1, name, f"must be >= 1, got {getattr(config, name)}")
  for name in ("train_steps", "epochs", "num_classes", "recon_weight", "max_rollbacks"):
    _check(getattr(config, name) >= 0, name, f"must be >= 0, got {getattr(config, name)}")
  for name in ("g_lr", "d_lr"):
    value = getattr(config, name)
    _check(value > 0 and math.isfinite(value), name, f"must be a finite number > 0, got {value}")
  for name in ("beta_1", "beta_2"):
    _check(0 <= getattr(config, name) < 1, name, f"must be in [0, 1), got {getattr(config, name)}")
  _check(0 <= config.label_smoothing < 0.5, "label_smoothing",
         f"must be in [0, 0.5), got {config.label_smoothing}")
  # Variant-specific settings that would otherwise be silently ignored or fail late.
  _check(config.recon_weight == 0 or config.variant == "cdcgan", "recon_weight",
         f"only --variant=cdcgan uses it (got {config.recon_weight} with --variant="
         f"{config.variant}); set --recon_weight=0")
  _check(config.variant != "gan" or config.mlp_units % config.maxout_pieces == 0, "mlp_units",
         f"must be a multiple of --maxout_pieces={config.maxout_pieces}, got {config.mlp_units}")
  _check(config.train_steps > 0 or config.epochs > 0, "train_steps",
         "set --train_steps or --epochs to a positive number")
  _check(config.dataset in DATASETS or config.dataset.startswith(DATASET_PREFIXES)
         and len(config.dataset) > 5, "dataset",
         f"unknown dataset {config.dataset!r}; valid: {', '.join(DATASETS)}, tfds:NAME[/CONFIG], "
         "folder:PATH")


def save_json(config: Config, path: str) -> None:
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(config.to_dict(), f, indent=2, sort_keys=True)
  os.replace(tmp, path)


def load_json(path: str) -> Config:
  with open(path) as f:
    data = json.load(f)
  known = {f.name for f in dataclasses.fields(Config)}
  return Config(**{k: v for k, v in data.items() if k in known})


def load_workdir(workdir: str) -> Config:
  """WORKDIR/config.json -> Config, for entry points that rebuild a trained run's networks."""
  path = os.path.join(workdir, "config.json")
  if not os.path.isfile(path):
    raise FileNotFoundError(f"--workdir: {path} not found; is {workdir!r} a training workdir?")
  return load_json(path)


def identity_conflicts(saved: Config, new: Config):
  """Names of identity fields whose values differ: (field, saved, new) tuples."""
  def relevant(name):
    only = VARIANT_ONLY_FIELDS.get(name)
    if only is None:
      return True
    return new.variant != only[1:] if only.startswith("!") else new.variant == only
  return [(name, getattr(saved, name), getattr(new, name)) for name in IDENTITY_FIELDS
          if relevant(name) and getattr(saved, name) != getattr(new, name)]
