"""SavedModel export of a generator: the signatures of signatures.py, plus what a serving
team needs beside them in `assets.extra/` (TF Serving copies that folder untouched):

  assets.extra/dcgan_tf.json                 what the model is (metadata.py)
  assets.extra/tf_serving_warmup_requests    PredictionLog records TF Serving replays at
                                             load (warmup.py), when its protos are installed

The archive is written to a temporary folder, loaded back and every signature called once,
and only then moved into place, so a failed export never replaces a good one. Training
also publishes each export as a version of a TF Serving base folder (serving.py).
"""

import json
import os

import tensorflow as tf
from absl import logging

from dcgan_tf import atomic
from dcgan_tf import inference
from dcgan_tf import models
from dcgan_tf.config import Config
from dcgan_tf.export import metadata as metadata_lib
from dcgan_tf.export import serving
from dcgan_tf.export import signatures
from dcgan_tf.export import warmup
from dcgan_tf.export.options import ExportOptions


def verify(path: str, config: Config, max_batch: int = signatures.DEFAULT_MAX_BATCH):
  """Loads the SavedModel and calls every signature once; raises if anything is off."""
  loaded = tf.saved_model.load(path)
  num = min(2, max_batch)
  expected = (num, config.image_size, config.image_size, config.channels)
  for name in signatures.SIGNATURES:
    out = loaded.signatures[name](**signatures.example_inputs(name, config.latent_dim,
                                                              config.num_classes, num))
    if name == "generate_png":
      got = tf.stack([tf.io.decode_png(png, channels=config.channels) for png in out["png_bytes"]])
    else:
      got = out["images"]
    if got.dtype != tf.uint8 or tuple(got.shape) != expected:
      raise RuntimeError(f"export check failed: {name} returned {got.dtype.name}"
                         f"{tuple(got.shape)}, expected uint8{expected}")


def export_generator(generator, path: str, config: Config, *, step: int = -1, ema: bool = False,
                     scores: dict = None, max_batch: int = signatures.DEFAULT_MAX_BATCH) -> str:
  """Writes, verifies and moves into place a SavedModel of `generator`, the G of `config`
  (config.num_classes: its classes). Returns `path`.

  step, ema, scores: recorded in its metadata (the checkpoint's step, whether `generator`
  holds the EMA weights, evaluation results). The export computes in float32 whatever
  policy `generator` was built under.
  """
  path = os.path.abspath(path)
  generator = models.float32_generator(generator, config)
  info = metadata_lib.describe(config, step=step, ema=ema, scores=scores, max_batch=max_batch)
  with atomic.replacing(path) as tmp:
    signatures.build_archive(generator, config.latent_dim, config.num_classes,
                             max_batch).write_out(tmp, verbose=False)
    extra = os.path.join(tmp, "assets.extra")
    os.makedirs(extra, exist_ok=True)
    metadata_lib.write(tmp, info)
    warmup.write(os.path.join(extra, warmup.FILE_NAME), config.latent_dim, config.num_classes,
                 max_batch)
    verify(tmp, config, max_batch)
  logging.info("Exported and verified SavedModel at %s", path)
  return path


def export_best(workdir, best: dict, config: Config) -> str:
  """Exports the generator of the best evaluated checkpoint (train/evaluation.py) to
  WORKDIR/saved_model_best (its step and scores in saved_model_best.json beside it and in
  its metadata) and publishes it in WORKDIR/serving_best/STEP."""
  path = os.path.join(workdir.checkpoint_dir, best["checkpoint"])
  # The generator the evaluation found better (EMA or trained; older records: the EMA G).
  run = inference.load_run(workdir.path, path, discriminator=False,
                           use_ema=best.get("generator", "ema") == "ema")
  out = export_generator(run.generator, workdir.saved_model_best_dir, config, step=run.step,
                         ema=run.ema, scores=best)
  record = dict(best, checkpoint=path, saved_model=out, generator="ema" if run.ema else "trained")
  atomic.write_text(workdir.saved_model_best_json_path,
                    json.dumps(record, indent=2, sort_keys=True))
  serving.publish(out, workdir.serving_best_dir, run.step, config.keep_checkpoints)
  return out


def export_from_workdir(options: ExportOptions) -> str:
  """Rebuilds G from the workdir, restores the newest (or given) checkpoint, exports it in
  options.format. Returns the written path.

  A SavedModel without --out goes to WORKDIR/saved_model and is published in
  WORKDIR/serving/STEP, as training does.
  """
  run = inference.load_run(options.workdir, options.checkpoint, discriminator=False,
                           use_ema=options.use_ema)
  wd, info = run.workdir, dict(step=run.step, ema=run.ema)
  if options.format != "savedmodel":
    from dcgan_tf.export import convert  # imports tf2onnx / the TFLite converter
    default = wd.onnx_path if options.format == "onnx" else wd.tflite_path
    return convert.export_file(run.generator, options.out or default, options.format,
                               run.config, batch=options.batch, **info)
  out = export_generator(run.generator, options.out or wd.saved_model_dir, run.config,
                         max_batch=options.max_batch, **info)
  if not options.out:
    serving.publish(out, wd.serving_dir, run.step, run.config.keep_checkpoints)
  return out
