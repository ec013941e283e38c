"""`python -m dcgan_tf.sample` settings and their checks; no TensorFlow, so --help and a bad
flag answer before TensorFlow loads."""

import dataclasses

from dcgan_tf.config import option, parse_truncations, saved_model_option, use_ema_option
from dcgan_tf.errors import UserError, check

MODES = ("grid", "interpolate", "arithmetic", "kernels", "curves", "truncation", "nearest")
DEFAULT_TRUNCATIONS = "0.25,0.5,1,2"

@dataclasses.dataclass
class SampleOptions:
  """`python -m dcgan_tf.sample` settings; the help texts are its --help."""
  workdir: str = option(None, "Training workdir (config.json, checkpoints/).", required=True)
  mode: str = option(
      "grid", "grid: --num random samples (conditional G: one class per row); also writes "
      "OUT.npz with their z for --mode=arithmetic. interpolate: --num rows of --steps images "
      "between two random z (spherical, or linear with --lerp); the conditional G gets "
      "class-to-class rows instead (fixed z, label embedding of class r blended into class "
      "r+1). arithmetic: vector arithmetic A - B + C as in the DCGAN paper: each row shows 3 "
      "samples of groups A, B and C each followed by the image of their mean z, then "
      "G(mean_A - mean_B + mean_C) and 2 copies with uniform noise +-0.25 added to that z; "
      "groups are random unless --z_from/--groups pick images of a grid. kernels: the first "
      "D layer's filters (gray = 0). curves: D/G losses, D outputs, ADA's p and evaluation "
      "scalars over training. truncation: one row of --num (default 8) samples per t of "
      "--truncation, the same noise in each column (quality against diversity at a glance). "
      "nearest: --num (default 8) rows, each a sample followed by its 3 nearest training "
      "images in pixels (the run's whole training split): copying shows as twins.")
  out: str = option(None, "Output PNG path.", required=True)
  num: int = option(0, "grid: images (default 64); interpolate / arithmetic: rows "
                     "(default 8 / 4).")
  steps: int = option(10, "interpolate: images per row, ends included (>= 2).")
  lerp: bool = option(False, "interpolate: linear instead of spherical interpolation.")
  seed: int = option(0, "Seed of z (the z of the export's generate(num, seed)), labels and "
                     "noise.")
  checkpoint: str = option("", "Empty = newest; a step number (500) or a path prefix.")
  saved_model: str = saved_model_option()
  use_ema: bool = use_ema_option()
  truncation: str = option(
      "", "grid: z ~ N(0, 1) kept within [-t, t] (t > 0; empty: no truncation), the z of the "
      "export's generate_truncated(num, seed, t). truncation mode: comma-separated t, one "
      f"row each (default {DEFAULT_TRUNCATIONS}).")
  z_from: str = option("", "arithmetic: an OUT.npz written by --mode=grid.")
  groups: str = option("", "arithmetic with --z_from: grid indices of groups A:B:C, e.g. "
                        "0,1,2:8,9,10:16,17,18 (row-major, from 0).")


def validate(o: SampleOptions) -> None:
  """UserError naming the field for a bad mode, out, num, steps or truncation."""
  check(o.mode in MODES, "mode", f"got {o.mode!r}; valid: {', '.join(MODES)}")
  check(o.out.lower().endswith(".png"), "out", f"want a .png file name, got {o.out!r}")
  check(o.num >= 0, "num", f"must be >= 0, got {o.num}")
  check(o.steps >= 2, "steps", f"must be >= 2, got {o.steps}")
  truncations(o)


def truncations(o: SampleOptions) -> list:
  """--truncation as floats (each > 0): [] for no truncation; the default list in truncation
  mode; UserError for a bad list, or several values outside truncation mode."""
  values = parse_truncations(o.truncation or (
      DEFAULT_TRUNCATIONS if o.mode == "truncation" else ""))
  if len(values) > 1 and o.mode != "truncation":
    raise UserError(f"mode={o.mode} takes one value, got {o.truncation!r}", "truncation")
  if values and o.mode not in ("grid", "truncation"):
    raise UserError(f"only mode=grid or truncation use it, not {o.mode}", "truncation")
  return values
