"""Benchmark the train step: `python -m dcgan_tf.bench --image_size=64 --batch_size=128 --steps=30
--precision=float32,mixed_bfloat16 [--jit_compile] [--pipeline] [--breakdown]`.

Prints one JSON line per measurement (matmul peaks, then one line per setting:
img_per_s, s_per_step, the settings, FLOPs per image and utilisation of the
float32 matmul peak); step.py says what is measured and how.
"""

import json

from absl import logging

from dcgan_tf import cli
from dcgan_tf.bench import settings as settings_lib

cli.define_flags(settings_lib.BenchOptions)


def main(argv):
  del argv
  options = cli.read_options(settings_lib.BenchOptions, settings_lib.validate, logging.WARNING)
  config = settings_lib.bench_config(options)
  from dcgan_tf.bench import breakdown, step  # imports TensorFlow: after the flags are checked
  step.set_threads(options.intra_op_threads, options.inter_op_threads)
  settings = step.settings(options)

  def emit(row):
    print(json.dumps(row), flush=True)

  for row in step.run(config, settings, steps=options.steps, warmup=options.warmup,
                      rounds=options.rounds, matmul_size=options.matmul_size):
    emit(row)
  if options.breakdown:
    for row in breakdown.breakdown(config, settings[0]):
      emit(row)
  if options.loop:
    from dcgan_tf.bench import loop
    for spe in settings_lib.steps_per_execution(options):
      emit(loop.compare(config.replace(steps_per_execution=str(spe)), options.steps,
                        options.warmup))
  if options.exports:
    from dcgan_tf.bench import exports
    for row in exports.compare(config, options.export_batch, options.rounds):
      emit(row)
  if options.pipeline:
    from dcgan_tf import data
    row = data.pipeline_throughput(config, options.pipeline_batches, config.batch_size)
    emit(dict(kind="pipeline", img_per_s=round(row["images_per_s"], 2), **row))


if __name__ == "__main__":
  cli.run(main)
