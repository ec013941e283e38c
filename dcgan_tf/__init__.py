"""dcgan_tf: train, monitor, evaluate and export DCGAN-family image generators."""

import os

# TensorFlow reserves nearly all memory of every visible GPU per process unless memory
# growth is on: two pytest workers, a test's subprocess or an `evaluate` beside a training
# run would then fail with out-of-memory. Every entry point (and the tests) imports this
# package before TensorFlow initialises its devices; a value the user set is kept.
os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")

__version__ = "0.9.0"  # recorded in every export's metadata (export/metadata.py)
