"""What `python -m dcgan_tf.bench` measures: its options and the model config (no TensorFlow
here, so a bad flag is reported before TensorFlow loads).

Without --config the network is the DCGAN paper's at 64x64 RGB, batch 128; each
precision in --precision is measured with the XLA choice training would make
(or both with --compare_jit) and each --steps_per_execution value (step.settings).
"""

import dataclasses
from typing import Optional

from dcgan_tf import config as config_lib
from dcgan_tf.config import option
from dcgan_tf.errors import check

# Label classes of the synthetic batches fed to a conditional network whose config leaves
# its class count to the dataset (the bench reads no dataset).
SYNTHETIC_CLASSES = 10


@dataclasses.dataclass
class BenchOptions:
  """The bench's settings; the help texts are its --help."""
  config: Optional[str] = option(None, "Experiment file in configs/ whose model and data fields "
                                  "to use (name or path); the flags below override it. Default: "
                                  "the built-in defaults (the DCGAN paper's network).")
  variant: Optional[str] = option(None, "Model family: gan | dcgan | cdcgan | "
                                  "cdcgan_projection | sngan. Default: dcgan.")
  image_size: Optional[int] = option(None, "Square image side: 32, 64 or 128. Default: the "
                                      "config's, or 64 without --config.")
  channels: Optional[int] = option(None, "Image channels: 1 or 3. Default: the config's, or 3.")
  batch_size: Optional[int] = option(None, "Global batch size (>= 1). Default: the config's, "
                                      "or 128.")
  conv_impl: Optional[str] = option(None, "Stride-2 convolutions: auto | keras | subpixel "
                                     "(as training's --conv_impl). Default: auto.")
  precision: str = option("float32", "Comma-separated policies to compare in this one "
                           "process: float32, mixed_bfloat16, mixed_float16, auto (the trainer's "
                           "choice).")
  jit_compile: Optional[bool] = option(None, "XLA for the whole step (--nojit_compile: off). "
                                        "Default: what training's --jit_compile=auto picks.")
  compare_jit: bool = option(False, "Measure every precision with XLA on and off.")
  steps_per_execution: str = option("1", "Comma-separated train steps per tf.function call "
                                     "to compare (each >= 1).")
  steps: int = option(30, "Timed train steps per setting (>= 1), after the warm-up.")
  warmup: int = option(5, "Untimed steps per setting after tracing/compiling (>= 0).")
  rounds: int = option(5, "Interleaved timing rounds over all settings (>= 1): load spikes "
                        "from other processes then hit every setting alike.")
  matmul_size: int = option(2048, "Side n of the n x n matmul that measures the peak GFLOP/s "
                             "(>= 64).")
  intra_op_threads: int = option(0, "TF intra-op threads (0 = one per core).")
  inter_op_threads: int = option(0, "TF inter-op threads (0 = TF's default).")
  loop: bool = option(False, "Also time the whole training loop (train(): callbacks, EMA, "
                      "logs, grids, checkpoints) against the bare compiled step on the same "
                      "model (bench/loop.py); a tiny model stands in for a fast GPU.")
  filters: Optional[int] = option(None, "G and D widths (--gen_filters/--disc_filters). "
                                  "Default: the config's.")
  pipeline: bool = option(False, "Also measure the input pipeline alone "
                           "(data.pipeline_throughput) for --dataset at this image size and batch.")
  dataset: Optional[str] = option(None, "Dataset for --pipeline (any training --dataset value). "
                                   "Default: the config's, or digits.")
  pipeline_batches: int = option(50, "Batches timed by --pipeline (>= 1).")
  exports: bool = option(False, "Also compare the export formats (SavedModel, ONNX, TFLite) "
                         "of the generator: size, load time, images/s, difference "
                         "(bench/exports.py).")
  export_batch: int = option(64, "Batch of --exports' timed calls (>= 1; TFLite's fixed batch).")
  breakdown: bool = option(False, "Also time the parts of the step (G forward, D forward, "
                            "gradient passes) and every conv layer's passes, for the first "
                            "precision.")


def precisions(options: BenchOptions):
  return [p.strip() for p in options.precision.split(",") if p.strip()]


def steps_per_execution(options: BenchOptions):
  try:
    return [int(s) for s in options.steps_per_execution.split(",")]
  except ValueError:
    return [0]


def validate(options: BenchOptions) -> None:
  """UserError naming the field for any bad option."""
  for p in precisions(options) or [""]:
    check(p in config_lib.PRECISIONS, "precision",
          f"got {p!r}; valid: {', '.join(config_lib.PRECISIONS)}")
  check(min(steps_per_execution(options)) >= 1, "steps_per_execution",
        "give integers >= 1, e.g. 1,4")
  check(options.filters is None or options.filters >= 1, "filters", "must be >= 1")
  for name, low in (("steps", 1), ("warmup", 0), ("rounds", 1), ("matmul_size", 64),
                    ("pipeline_batches", 1), ("export_batch", 1), ("intra_op_threads", 0),
                    ("inter_op_threads", 0)):
    value = getattr(options, name)
    check(value >= low, name, f"must be >= {low}, got {value}")


def bench_config(options: BenchOptions) -> config_lib.Config:
  """The model and data Config measured: --config (or the paper's 64x64 network) + overrides."""
  base = (config_lib.load_config_file(options.config) if options.config else
          config_lib.Config(image_size=64, channels=3, batch_size=128))
  overrides = {name: getattr(options, name) for name in ("variant", "image_size", "channels",
                                                         "batch_size", "dataset", "conv_impl")
               if getattr(options, name) is not None}
  if options.filters is not None:
    overrides.update(gen_filters=options.filters, disc_filters=options.filters)
  config = base.replace(train_steps=1, export=False, strategy="default", **overrides)
  config_lib.validate(config)
  return config


def network_config(config: config_lib.Config) -> config_lib.Config:
  """`config` with the class count of the networks the bench builds resolved
  (config.resolve_classes): the config's own, else SYNTHETIC_CLASSES."""
  return config_lib.resolve_classes(config, config.num_classes or SYNTHETIC_CLASSES)
