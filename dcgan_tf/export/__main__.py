"""Export a trained generator: `python -m dcgan_tf.export --workdir=W [--format=savedmodel|onnx|tflite]
[--out=PATH] [--checkpoint=N]`.

A SavedModel with the signatures export/signatures.py documents (uint8 images), its
warm-up requests and metadata; or an ONNX / TFLite file checked against the generator.
"""

from dcgan_tf import cli
from dcgan_tf.export import options as options_lib

cli.define_flags(options_lib.ExportOptions)


def main(argv):
  del argv
  options = cli.read_options(options_lib.ExportOptions, options_lib.validate)
  from dcgan_tf.export import savedmodel  # imports TensorFlow: after the flags are checked
  path = savedmodel.export_from_workdir(options)
  print(f"{options.format} export written to {path}")


if __name__ == "__main__":
  cli.run(main)
