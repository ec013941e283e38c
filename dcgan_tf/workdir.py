"""The run folder: its layout (every path a run writes), config.json, conflicting reruns.

Everything a run produces lives in one workdir, so a run can be resumed,
evaluated, sampled or exported from the workdir alone:

  config.json          the effective Config (what `train` resumes, the others rebuild from)
  checkpoints/         ckpt-STEP.{index,data-*} + TensorFlow's `checkpoint` state file;
                       best/ (--eval_every): the best evaluated checkpoint and best.json
  fixed_noise.npy      z of the sample grids (also inside every checkpoint)
  samples/             step_NNNNNNN.png fixed-noise grids
  tensorboard/         training scalars, sample images, the config; eval/ and sample/ below it
  eval/                step_NNNNNNN.json evaluation results
  saved_model/         the exported generator (on completion)
  saved_model_best/    with --eval_every: the best evaluated checkpoint's generator (+ .json)
  serving/STEP/        TF Serving base: saved_model/ published as version STEP (newest
                       --keep_checkpoints kept); serving_best/STEP/ likewise for the best
  generator.onnx, generator.tflite (+ .json)   `export --format=onnx|tflite`

Train, evaluate, sample and export all reach these paths through `Workdir`; what is in the
checkpoints (and which one to read) is checkpoints.py's. No TensorFlow here: the entry
points use this module before TensorFlow loads.
"""

import json
import os
import re
import time
from typing import Optional

from absl import logging

from dcgan_tf import atomic
from dcgan_tf import config as config_lib
from dcgan_tf.errors import UserError

CHECKPOINT_NAME = "ckpt"  # checkpoint file prefix: ckpt-STEP, STEP = generator steps taken


def default_path(config: config_lib.Config) -> str:
  """runs/<dataset>-<variant> (the dataset name made file-safe)."""
  name = config.dataset.replace(":", "_").replace("/", "_").strip("_")
  return os.path.join("runs", f"{name}-{config.variant}")


def step_of(path) -> int:
  """.../ckpt-123 -> 123; -1 when the name carries no step."""
  match = re.search(r"-(\d+)$", os.path.basename(path or ""))
  return int(match.group(1)) if match else -1


def _entry(*parts):
  """A read-only Workdir attribute: the path of `parts` inside the run folder."""
  return property(lambda self: os.path.join(self.path, *parts))


class Workdir:
  """One run folder (see the module docstring). Creating the object touches nothing."""

  def __init__(self, path: str):
    if not path:
      raise UserError("empty; give a folder for checkpoints and samples", "workdir")
    self.path = path

  def __str__(self):
    return self.path

  # The layout (module docstring): one path per thing a run writes.
  config_path = _entry("config.json")
  checkpoint_dir = _entry("checkpoints")
  best_checkpoint_dir = _entry("checkpoints", "best")
  best_json_path = _entry("checkpoints", "best", "best.json")  # the best checkpoint's record
  tensorboard_dir = _entry("tensorboard")
  samples_dir = _entry("samples")
  eval_dir = _entry("eval")
  saved_model_dir = _entry("saved_model")
  saved_model_best_dir = _entry("saved_model_best")
  saved_model_best_json_path = _entry("saved_model_best.json")
  serving_dir = _entry("serving")
  serving_best_dir = _entry("serving_best")
  onnx_path = _entry("generator.onnx")
  tflite_path = _entry("generator.tflite")
  fixed_noise_path = _entry("fixed_noise.npy")

  # ------------------------------------------------------------------ config

  def saved_config(self) -> Optional[config_lib.Config]:
    """The run's config.json, or None when there is none yet.

    Its class count is resolved (config.resolve_classes): training saves the count it
    trains with, and a config.json holding 0 for the conditional variant (written by an
    older version) reads as that version's readers built it: one class.
    """
    if not os.path.isfile(self.config_path):
      return None
    try:
      with open(self.config_path) as f:
        config = config_lib.Config.from_dict(json.load(f))
    except (ValueError, TypeError) as e:  # json.JSONDecodeError is a ValueError
      raise UserError(f"{self.config_path} is unreadable ({e}); fix or delete it, or use "
                      "--overwrite to start afresh", "workdir") from None
    return config_lib.resolve_classes(config)

  def load_config(self) -> config_lib.Config:
    """config.json of a trained run (for evaluate, sample and export)."""
    config = self.saved_config()
    if config is None:
      raise UserError(f"{self.config_path} not found; is {self.path!r} a training workdir?",
                      "workdir")
    return config

  def _refuse_conflict(self, saved, config):
    conflicts = config_lib.identity_conflicts(saved, config)
    if conflicts:
      name, old, new = conflicts[0]
      raise UserError(f"{self.path} was trained with {name}={old!r}, not {new!r}; use another "
                      "workdir (or --overwrite to start afresh)", name)

  def start(self, config: config_lib.Config, overwrite: bool = False) -> None:
    """Before any data is read: refuses a workdir trained with other identity fields
    (with overwrite, moves the old run aside instead: nothing is deleted) and an
    existing workdir or checkpoint folder that cannot be written. Creates nothing.

    num_classes may still be 0 here (taken from the dataset later): save_config
    checks it again once it is known.
    """
    if os.path.exists(self.path) and not os.path.isdir(self.path):
      raise UserError(f"{self.path!r} is a file, not a folder", "workdir")
    if overwrite and os.path.isdir(self.path) and os.listdir(self.path):
      logging.warning("--overwrite: moved the previous run in %s to %s", self.path,
                      self.move_aside())
    saved = self.saved_config()
    if saved is not None:
      self._refuse_conflict(saved, config.replace(
          num_classes=config.num_classes or saved.num_classes))
    for folder in (self.path, self.checkpoint_dir):
      if os.path.isdir(folder):
        check_writable(folder)

  def save_config(self, config: config_lib.Config) -> None:
    """Creates the workdir, refuses a conflicting saved config, writes config.json."""
    try:
      os.makedirs(self.path, exist_ok=True)
    except OSError as e:
      raise UserError(f"cannot create {self.path!r}: {e.strerror}", "workdir") from None
    saved = self.saved_config()
    if saved is not None:
      self._refuse_conflict(saved, config)
    try:
      atomic.write_text(self.config_path, config.to_json())
    except OSError as e:
      raise UserError(f"cannot write {self.config_path}: {e.strerror}", "workdir") from None

  def move_aside(self) -> str:
    """Renames the workdir to WORKDIR.old-YYYYmmdd-HHMMSS[-N]; returns the new path."""
    base = os.path.normpath(self.path) + time.strftime(".old-%Y%m%d-%H%M%S")
    target, n = base, 1
    while os.path.exists(target):
      n += 1
      target = f"{base}-{n}"
    try:
      os.rename(self.path, target)
    except OSError as e:
      raise UserError(f"cannot move {self.path!r} aside to {target!r}: {e.strerror}; move or "
                      "delete it yourself", "overwrite") from None
    return target

  # ------------------------------------------------- paths of numbered files

  def checkpoint_prefix(self, step: int) -> str:
    """checkpoints/ckpt-STEP (checkpoints.py writes and reads it)."""
    return os.path.join(self.checkpoint_dir, f"{CHECKPOINT_NAME}-{step}")

  def sample_png(self, step: int) -> str:
    """samples/step_NNNNNNN.png: the fixed-noise grid at generator step `step`."""
    return os.path.join(self.samples_dir, f"step_{step:07d}.png")

  def eval_json(self, step: int, prefix: str = "step") -> str:
    """eval/PREFIX_NNNNNNN.json: evaluation results of the checkpoint at `step` (prefix:
    "step" for generated images, another name for a reference row)."""
    return os.path.join(self.eval_dir, f"{prefix}_{step:07d}.json")

  def truncation_png(self, step: int) -> str:
    """eval/truncation_step_NNNNNNN.png: the metrics-per-truncation plot."""
    return os.path.join(self.eval_dir, f"truncation_step_{step:07d}.png")


def check_writable(directory: str) -> None:
  """Writes and removes a file in the existing `directory`, or raises UserError naming it.

  A resumed run calls it at start: a read-only or full disk is reported before the
  data is loaded, not at the first checkpoint hours later.
  """
  probe = os.path.join(directory, ".write_probe")
  try:
    with open(probe, "w") as f:
      f.write("ok")
    os.remove(probe)
  except OSError as e:
    raise UserError(f"cannot write to {directory}: {e.strerror} (read-only or full "
                    "disk?); nothing in it was changed", "workdir") from None
