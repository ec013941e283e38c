"""ONNX (tf2onnx) and TFLite (TensorFlow's converter) exports of a generator.

Both convert the same float32 graph as serving_default, z [, labels] -> uint8 images,
without its request checks (neither format has assertion ops: a serving layer in front
bounds the batch). ONNX keeps a dynamic batch; TFLite has a fixed batch (`batch`), as
mobile runtimes want. Each file is written under a temporary name, loaded by its own
runtime (onnxruntime, tf.lite.Interpreter), called on seeded z and compared with the
generator itself: at most 1 grey level apart (the two graphs may sum float32 convolutions
in another order, ~1e-6, far below a level, 7.8e-3, so only a value on a rounding boundary
moves) or the export fails and nothing is replaced. Metadata in FILE.json (metadata.py).
"""

import os
import warnings

import numpy as np
import tensorflow as tf
from absl import logging

from dcgan_tf import atomic
from dcgan_tf import models
from dcgan_tf.config import Config
from dcgan_tf.export import metadata as metadata_lib
from dcgan_tf.export import signatures
from dcgan_tf.images import to_uint8

FORMATS = ("onnx", "tflite")
ONNX_OPSET = 17  # onnxruntime >= 1.12 runs it; tf2onnx 1.17 converts every op G uses
CHECK_BATCH = 4  # images compared after conversion


def _graph(generator, latent_dim: int, num_classes: int, batch=None):
  """(tf.function z[, labels] -> uint8 images, its input signature)."""
  specs = [tf.TensorSpec([batch, latent_dim], tf.float32, name="z")]
  if num_classes:
    specs.append(tf.TensorSpec([batch], tf.int32, name="labels"))

  @tf.function(input_signature=specs)
  def images(z, *labels):
    return {"images": to_uint8(generator(z, labels[0] if labels else None, training=False))}
  return images, specs


def check_inputs(latent_dim: int, num_classes: int, batch: int):
  """[z float32 [batch, latent_dim]] (+ [labels int32 [batch]] when conditional): the fixed
  inputs a converted model is checked (and bench --exports timed) on."""
  rng = np.random.default_rng(signatures.EXAMPLE_SEED)  # the export's example stream
  z = rng.standard_normal((batch, latent_dim)).astype(np.float32)
  return [z] + ([np.arange(batch, dtype=np.int32) % num_classes] if num_classes else [])


def _load_onnx(path):
  import onnxruntime
  session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
  names = [i.name for i in session.get_inputs()]
  return lambda inputs: session.run(["images"], dict(zip(names, inputs)))[0]


def _load_tflite(path):
  with warnings.catch_warnings():  # tf.lite.Interpreter's deprecation notice (LiteRT)
    warnings.simplefilter("ignore")
    interpreter = tf.lite.Interpreter(model_path=path)
  interpreter.allocate_tensors()
  details = sorted(interpreter.get_input_details(), key=lambda d: d["name"].endswith("labels"))
  output = interpreter.get_output_details()[0]["index"]

  def predict(inputs):
    for detail, value in zip(details, inputs):
      interpreter.set_tensor(detail["index"], value)
    interpreter.invoke()
    return interpreter.get_tensor(output)
  return predict


def load_file(path: str):
  """An exported .onnx / .tflite file loaded by its runtime: predict([z (, labels)]) ->
  uint8 images (numpy in, numpy out)."""
  return (_load_onnx if path.endswith(".onnx") else _load_tflite)(path)


def run_file(path: str, inputs):
  """The images of an exported .onnx / .tflite file for inputs [z (, labels)] (numpy)."""
  return load_file(path)(inputs)


def _convert(fmt, graph, specs, tmp):
  if fmt == "onnx":
    import tf2onnx
    tf2onnx.convert.from_function(graph, input_signature=specs, opset=ONNX_OPSET,
                                  output_path=tmp)
  else:
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [graph.get_concrete_function()], graph)
    with open(tmp, "wb") as f:
      f.write(converter.convert())


def export_file(generator, path: str, fmt: str, config: Config, *, step: int = -1,
                ema: bool = False, batch: int = 1) -> str:
  """Converts `generator`, the G of `config`, to `fmt` ('onnx' | 'tflite', batch fixed for
  tflite), checks the file against the generator, moves it to `path` and writes its
  metadata. Returns `path`."""
  if fmt not in FORMATS:
    raise ValueError(f"format {fmt!r}; valid: {', '.join(FORMATS)}")
  path = os.path.abspath(path)
  generator = models.float32_generator(generator, config)
  fixed = batch if fmt == "tflite" else None
  graph, specs = _graph(generator, config.latent_dim, config.num_classes, fixed)
  inputs = check_inputs(config.latent_dim, config.num_classes, fixed or CHECK_BATCH)
  with tf.device("/CPU:0"):  # the reference on the CPU, as the converted runtimes run there
    expected = graph(*inputs)["images"].numpy()
  with atomic.replacing(path) as tmp:
    _convert(fmt, graph, specs, tmp)
    got = run_file(tmp, inputs)
    diff = np.abs(got.astype(np.int32) - expected).max() if got.shape == expected.shape else None
    if got.dtype != np.uint8 or diff is None or diff > 1:
      raise RuntimeError(f"{fmt} export check failed: {got.dtype}{got.shape}, "
                         f"{diff} grey levels from the generator (at most 1 expected)")
  metadata_lib.write(path, metadata_lib.describe(
      config, step=step, ema=ema, max_batch=None, format=fmt,
      batch=fixed or "dynamic", inputs=[s.name for s in specs]))
  logging.info("Exported and checked %s at %s (%d grey levels from the generator)", fmt, path,
               diff)
  return path
