"""dcgan_tf: train, monitor, evaluate and export DCGAN-family image generators."""

from dcgan_tf import startup

# Before TensorFlow initialises: every entry point, the pytest workers and the tests'
# subprocesses import this package first (GPU memory growth, lean Keras import: startup.py).
startup.prepare()

__version__ = "0.9.0"  # recorded in every export's metadata (export/metadata.py)
