"""Benchmark the train step: `python -m dcgan_tf.bench --image_size=64 --batch_size=128 --steps=30
--precision=float32,mixed_bfloat16 [--jit_compile] [--pipeline] [--breakdown]`.

Prints one JSON line per measurement (matmul peaks, then one line per setting:
img_per_s, s_per_step, the settings, FLOPs per image and utilisation of the
float32 matmul peak); bench_lib.py says what is measured and how.
"""

import json
import sys

from absl import flags, logging

from dcgan_tf import cli

flags.DEFINE_string("config", None, "Experiment file in configs/ whose model and data fields to "
                    "use (name or path); the flags below override it. Default: the built-in "
                    "defaults (the DCGAN paper's network).")
flags.DEFINE_string("variant", None, "Model family: gan | dcgan | cdcgan | sngan. Default: dcgan.")
flags.DEFINE_integer("image_size", None, "Square image side: 32, 64 or 128. Default: the "
                     "config's, or 64 without --config.")
flags.DEFINE_integer("channels", None, "Image channels: 1 or 3. Default: the config's, or 3.")
flags.DEFINE_integer("batch_size", None, "Global batch size (>= 1). Default: the config's, or "
                     "128.")
flags.DEFINE_list("precision", ["float32"], "Comma-separated policies to compare in this one "
                  "process: float32, mixed_bfloat16, mixed_float16, auto (the trainer's choice).")
flags.DEFINE_boolean("jit_compile", None, "XLA for the whole step (--nojit_compile: off). "
                     "Default: what training's --jit_compile=auto picks for each precision.")
flags.DEFINE_boolean("compare_jit", False, "Measure every precision with XLA on and off.")
flags.DEFINE_list("steps_per_execution", ["1"], "Comma-separated train steps per tf.function "
                  "call to compare (each >= 1).")
flags.DEFINE_integer("steps", 30, "Timed train steps per setting (>= 1), after the warm-up.")
flags.DEFINE_integer("warmup", 5, "Untimed steps per setting after tracing/compiling (>= 0).")
flags.DEFINE_integer("rounds", 5, "Interleaved timing rounds over all settings (>= 1): load "
                     "spikes from other processes then hit every setting alike.")
flags.DEFINE_integer("matmul_size", 2048, "Side n of the n x n matmul that measures the peak "
                  "GFLOP/s (>= 64).")
flags.DEFINE_integer("intra_op_threads", 0, "TF intra-op threads (0 = one per core).")
flags.DEFINE_integer("inter_op_threads", 0, "TF inter-op threads (0 = TF's default).")
flags.DEFINE_boolean("pipeline", False, "Also measure the input pipeline alone "
                     "(data.pipeline_throughput) for --dataset at this image size and batch.")
flags.DEFINE_string("dataset", None, "Dataset for --pipeline (any training --dataset value). "
                    "Default: the config's, or digits.")
flags.DEFINE_integer("pipeline_batches", 50, "Batches timed by --pipeline (>= 1).")
flags.DEFINE_boolean("breakdown", False, "Also time the parts of the step (G forward, D forward, "
                     "gradient passes) and every conv layer's passes, for the first precision.")


def _check(ok, flag, message):
  if not ok:
    raise ValueError(f"--{flag}: {message}")


def _config():
  from dcgan_tf import config as config_lib
  f = flags.FLAGS
  # Without a config file: the DCGAN paper's network at 64x64 RGB, batch 128.
  base = (config_lib.load_config_file(f.config) if f.config else
          config_lib.Config(image_size=64, channels=3, batch_size=128))
  overrides = {name: getattr(f, name) for name in ("variant", "image_size", "channels",
                                                   "batch_size", "dataset")
               if getattr(f, name) is not None}
  config = base.replace(train_steps=1, export=False, strategy="default", **overrides)
  config_lib.validate(config)
  return config


def _settings(config):
  from dcgan_tf import bench_lib, config as config_lib, distribute
  f = flags.FLAGS
  for p in f.precision:
    _check(p in config_lib.PRECISIONS, "precision",
           f"got {p!r}; valid: {', '.join(config_lib.PRECISIONS)}")
  try:
    spes = [int(s) for s in f.steps_per_execution]
  except ValueError:
    spes = [0]
  _check(spes and min(spes) >= 1, "steps_per_execution", "give integers >= 1, e.g. 1,4")
  settings = []
  for precision in dict.fromkeys(distribute.resolve_precision(p) for p in f.precision):
    if f.compare_jit:
      jits = [False, True]
    elif f.jit_compile is None:
      jits = [distribute.resolve_jit_compile("auto", None, precision)]
    else:
      jits = [f.jit_compile]
    settings += [bench_lib.Setting(precision, jit, spe) for jit in jits for spe in spes]
  return settings


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  f = flags.FLAGS
  for name, low in (("steps", 1), ("warmup", 0), ("rounds", 1), ("matmul_size", 64),
                    ("pipeline_batches", 1), ("intra_op_threads", 0), ("inter_op_threads", 0)):
    _check(getattr(f, name) >= low, name, f"must be >= {low}, got {getattr(f, name)}")
  config = _config()
  from dcgan_tf import bench_lib  # imports TensorFlow: after the flags are checked
  bench_lib.set_threads(f.intra_op_threads, f.inter_op_threads)
  settings = _settings(config)

  def emit(row):
    print(json.dumps(row), flush=True)

  for row in bench_lib.run(config, settings, steps=f.steps, warmup=f.warmup, rounds=f.rounds,
                           matmul_size=f.matmul_size):
    emit(row)
  if f.breakdown:
    for row in bench_lib.breakdown(config, settings[0]):
      emit(row)
  if f.pipeline:
    from dcgan_tf import data
    row = data.pipeline_throughput(config, f.pipeline_batches, config.batch_size)
    emit(dict(kind="pipeline", img_per_s=round(row["images_per_s"], 2), **row))
  sys.stdout.flush()


if __name__ == "__main__":
  cli.run(main)
