"""The step log's progress: elapsed time, epoch and an ETA from a smoothed images/s.

A fake clock drives the StepLogger, so the values are exact and no assertion depends on
how fast the machine is.
"""

import numpy as np
import pytest
import tensorflow as tf

from dcgan_tf.train import callbacks


def logged_scalars(monkeypatch):
  """{step: {name: value}} of what the StepLogger writes to TensorBoard, recorded (the
  writer must be a file writer: a no-op writer keeps no default step)."""
  rows = {}

  def scalar(name, value, step=None):
    step = tf.summary.experimental.get_step() if step is None else step
    rows.setdefault(int(step), {})[name] = float(value)
  monkeypatch.setattr(callbacks.tf.summary, "scalar", scalar)
  return rows


class FakeGAN:
  metrics = ()

  def __init__(self):
    self.step = tf.Variable(0, dtype=tf.int64)
    self.g_optimizer = self.d_optimizer = type("Opt", (), {"learning_rate": 2e-4})()


def test_eta_follows_the_smoothed_rate_and_counts_down(monkeypatch, caplog, tmp_path):
  gan, clock = FakeGAN(), [100.0]
  monkeypatch.setattr(callbacks.time, "perf_counter", lambda: clock[0])
  history = logged_scalars(monkeypatch)
  logger = callbacks.StepLogger(gan, tf.summary.create_file_writer(str(tmp_path)), every=10,
                                global_batch=64, total_steps=50, num_examples=1000)
  logger.on_train_begin()
  # Seconds per 10-step interval: the first includes tracing, the others vary around 2 s.
  for seconds in (30.0, 2.0, 4.0, 2.0, 1.0):
    clock[0] += seconds
    gan.step.assign_add(10)
    logger.on_train_batch_end(0, {"d_loss": 1.0})
  steps = sorted(history)
  assert steps == [10, 20, 30, 40, 50]
  rates = [640 / s for s in (30.0, 2.0, 4.0, 2.0, 1.0)]
  smoothed = [rates[0], rates[1]]  # the second interval replaces the first (compilation)
  for r in rates[2:]:
    smoothed.append(0.7 * smoothed[-1] + 0.3 * r)
  for (step, values), rate, expected in zip(sorted(history.items()), rates, smoothed):
    assert values["images_per_s"] == pytest.approx(rate)
    assert values["eta_s"] == pytest.approx((50 - step) * 64 / expected)
    assert values["epoch"] == pytest.approx(step * 64 / 1000)
  etas = [v["eta_s"] for _, v in sorted(history.items())]
  assert etas[-1] == 0 and all(b < a for a, b in zip(etas, etas[1:])), etas
  lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("step ")]
  # The fake clock's times, formatted (no real time is involved).
  first, last = ("step 10/50 (epoch 0.64)  elapsed 30s  eta 2m00s  d_loss=1",
                 "step 50/50 (epoch 3.20)  elapsed 39s  eta 0s")
  assert lines[0].startswith(first) and lines[-1].startswith(last), lines


def test_epoch_is_left_out_when_the_dataset_size_is_unknown(monkeypatch, tmp_path):
  gan = FakeGAN()
  history = logged_scalars(monkeypatch)
  logger = callbacks.StepLogger(gan, tf.summary.create_file_writer(str(tmp_path)), every=1,
                                global_batch=8, total_steps=3)
  logger.on_train_begin()
  gan.step.assign(1)
  logger.on_train_batch_end(0, {})
  assert "epoch" not in history[1] and np.isfinite(history[1]["eta_s"])


@pytest.mark.parametrize("span, text", [(0.4, "0s"), (59.6, "1m00s"), (187, "3m07s"),
                                        (3725, "1h02m")])
def test_durations_read_like_a_clock(span, text):
  """The log's formatting of a number of seconds (a pure function)."""
  formatted = callbacks.duration(span)
  assert formatted == text
