"""Fault injection for the non-finite rollback tests: NaN written into G's weights.

In-process: `loop.train(config, workdir, extra_callbacks=[InjectNaN(step, times)])`.
As the real command line, with the same one-line error handling:
  python tests/nan_injection.py --nan_step=3 --nan_times=100 <dcgan_tf.train flags>
"""

import os
import sys

import keras
import tensorflow as tf
from absl import flags, logging


class InjectNaN(keras.callbacks.Callback):
  """After generator step `step`, fills G's first weight with NaN, as a diverging run would;
  fires at most `times` times per process (a rollback passes the step again)."""

  def __init__(self, step, times=1):
    super().__init__()
    self.step, self.times, self.fired = step, times, 0

  def on_train_batch_end(self, batch, logs=None):
    gan = self.model
    if int(gan.step.numpy()) == self.step and self.fired < self.times:
      self.fired += 1
      weight = gan.generator.trainable_variables[0]
      weight.assign(tf.fill(weight.shape, float("nan")))
      logging.warning("InjectNaN: wrote NaN into %s after step %d (%d of %d)", weight.path,
                      self.step, self.fired, self.times)


if __name__ == "__main__":
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  from dcgan_tf import cli
  from dcgan_tf.train import __main__ as train_main
  from dcgan_tf.train import loop

  flags.DEFINE_integer("nan_step", 1, "Generator step after which G's first weight becomes NaN.")
  flags.DEFINE_integer("nan_times", 1, "How often it fires in this process.")
  train = loop.train

  def train_with_nan(*args, **kwargs):
    nan = InjectNaN(flags.FLAGS.nan_step, flags.FLAGS.nan_times)
    return train(*args, extra_callbacks=[nan], **kwargs)

  loop.train = train_with_nan
  cli.run(train_main.main)
