"""Pictures from a trained workdir: `python -m dcgan_tf.sample --workdir=W --mode=grid --out=g.png`.

Every mode writes a PNG and a TensorBoard image (W/tensorboard/sample) and prints a
one-line JSON summary.
"""

import json

from absl import flags, logging

from dcgan_tf import cli

flags.DEFINE_string("workdir", None, "Training workdir (config.json, checkpoints/).",
                    required=True)
flags.DEFINE_enum("mode", "grid", ["grid", "interpolate", "arithmetic", "kernels", "curves"],
                  "grid: --num random samples (conditional G: one class per row); also writes "
                  "OUT.npz with their z for --mode=arithmetic. "
                  "interpolate: --num rows of --steps images between two random z (spherical, or "
                  "linear with --lerp); the conditional G gets class-to-class rows instead (fixed z, "
                  "label embedding of class r blended into class r+1). "
                  "arithmetic: vector arithmetic A - B + C as in the DCGAN paper: each row shows 3 "
                  "samples of groups A, B and C each followed by the image of their mean z, then "
                  "G(mean_A - mean_B + mean_C) and 2 copies with uniform noise +-0.25 added to that z; "
                  "groups are random unless --z_from/--groups pick images of a grid. "
                  "kernels: the first D layer's filters (gray = 0). "
                  "curves: D/G losses, D outputs and evaluation scalars over training.")
flags.DEFINE_string("out", None, "Output PNG path.", required=True)
flags.DEFINE_integer("num", 0, "grid: images (default 64); interpolate / arithmetic: rows "
                     "(default 8 / 4).")
flags.DEFINE_integer("steps", 10, "interpolate: images per row, ends included (>= 2).")
flags.DEFINE_boolean("lerp", False, "interpolate: linear instead of spherical interpolation.")
flags.DEFINE_integer("seed", 0, "Seed of z, labels and noise.")
flags.DEFINE_string("checkpoint", "", "Empty = newest; a step number (500) or a path prefix.")
flags.DEFINE_string("z_from", "", "arithmetic: an OUT.npz written by --mode=grid.")
flags.DEFINE_string("groups", "", "arithmetic with --z_from: grid indices of groups A:B:C, "
                    "e.g. 0,1,2:8,9,10:16,17,18 (row-major, from 0).")


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  from dcgan_tf import sample_lib
  f = flags.FLAGS
  summary = sample_lib.make_picture(f.workdir, f.mode, f.out, num=f.num, seed=f.seed, steps=f.steps,
                                    spherical=not f.lerp, checkpoint=f.checkpoint,
                                    z_from=f.z_from, groups=f.groups)
  print(json.dumps(summary))


if __name__ == "__main__":
  cli.run(main)
