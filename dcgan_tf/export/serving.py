"""TF Serving base folders: BASE/<version>/saved_model.pb, version = the checkpoint's step.

TensorFlow Serving loads only integer-named subfolders of --model_base_path and by default
serves the highest ("No versions of servable found under base path" otherwise). A version
is copied in under a temporary name that is not an integer, so a server polling the base
never sees half a version, then renamed. Kept: the version just published and the newest
keep - 1 others (so an older step published after newer ones stays, with a warning: a
server serves the highest version unless its version policy says otherwise). Re-exporting
a step replaces that folder (briefly absent between two renames); a running server that
already loaded that version keeps its copy: publish a new step to roll out.
"""

import os
import re
import shutil

from absl import logging

from dcgan_tf import atomic


def versions(base: str):
  """The integer versions in `base`, ascending (TF Serving's view of the folder)."""
  if not os.path.isdir(base):
    return []
  return sorted(int(name) for name in os.listdir(base)
                if re.fullmatch(r"\d+", name) and os.path.isdir(os.path.join(base, name)))


def publish(saved_model: str, base: str, version: int, keep: int) -> str:
  """Copies the verified SavedModel folder to BASE/VERSION; keeps the newest `keep`
  (>= 1) versions. Returns the version's path."""
  if version < 0:
    raise ValueError(f"a serving version is a step >= 0, got {version}")
  path = os.path.join(base, str(version))
  with atomic.replacing(path) as tmp:
    shutil.copytree(saved_model, tmp)
  present = versions(base)
  others = [v for v in present if v != version]  # kept: `version` + the newest keep - 1
  for old in others[:max(0, len(others) - (keep - 1))]:
    shutil.rmtree(os.path.join(base, str(old)), ignore_errors=True)
  if version != present[-1]:
    logging.warning("Published TF Serving version %s below the newest, %d: a server on %s "
                    "serves version %d unless its version policy names %d", path, present[-1],
                    base, present[-1], version)
  else:
    logging.info("Published TF Serving version %s", path)
  return path
