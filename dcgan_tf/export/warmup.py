"""TF Serving warm-up requests: `assets.extra/tf_serving_warmup_requests`, a TFRecord of
PredictionLog protos that the server replays when it loads a version, before it is marked
available, so the first users do not pay the graph's initialisation (kernel selection,
memory pools; on a GPU, cuDNN autotuning for each batch shape).

The protos come from `tensorflow-serving-api`, installed with `pip --no-deps` (Makefile): the
wheel is generated protobuf code only, but it declares a dependency on `tensorflow`, which
pip would install beside tensorflow-cpu as a second TensorFlow. Without the package the
export logs a skip and writes no warm-up file; everything else is unchanged.
"""

import tensorflow as tf
from absl import logging

from dcgan_tf.export import signatures

FILE_NAME = "tf_serving_warmup_requests"
# serving_default at the batch sizes clients most often send (each shape is its own cuDNN
# autotuning on a GPU); the generate* signatures once each at the middle size.
BATCH_SIZES = (1, 8, 64)


def requests(latent_dim: int, num_classes: int, max_batch: int):
  """[(signature name, inputs dict)] of the warm-up, batch sizes capped at max_batch."""
  sizes = sorted({min(n, max_batch) for n in BATCH_SIZES if min(n, max_batch) > 0})
  out = [("serving_default", signatures.example_inputs("serving_default", latent_dim,
                                                       num_classes, n)) for n in sizes]
  middle = sizes[len(sizes) // 2] if sizes else 0
  out += [(name, signatures.example_inputs(name, latent_dim, num_classes, middle))
          for name in signatures.SIGNATURES[1:] if middle]
  return out


def write(path: str, latent_dim: int, num_classes: int, max_batch: int):
  """Writes the warm-up TFRecord at `path`; returns its record count, or 0 (logged) without
  tensorflow-serving-api."""
  try:
    from tensorflow_serving.apis import model_pb2
    from tensorflow_serving.apis import predict_pb2
    from tensorflow_serving.apis import prediction_log_pb2
  except ImportError:
    logging.warning("tensorflow-serving-api is not installed: the export has no TF Serving "
                    "warm-up requests (make install adds it)")
    return 0
  records = requests(latent_dim, num_classes, max_batch)
  with tf.io.TFRecordWriter(path) as writer:
    for name, inputs in records:
      request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(signature_name=name))
      for key, value in inputs.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value.numpy()))
      log = prediction_log_pb2.PredictionLog(
          predict_log=prediction_log_pb2.PredictLog(request=request))
      writer.write(log.SerializeToString())
  return len(records)
