"""Shared fixtures: tiny configs that train in seconds on CPU."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
  sys.path.insert(0, REPO)

from dcgan_tf.config import Config  # noqa: E402


def tiny(**overrides) -> Config:
  """A digits config small enough for a CPU test: 8 filters, batch 16, no export by default."""
  base = dict(dataset="digits", image_size=32, channels=1, gen_filters=8, disc_filters=8,
              latent_dim=16, batch_size=16, train_steps=2, log_every=1, sample_every=1000,
              checkpoint_every=1000, num_grid_samples=4, shuffle_buffer=64, export=False,
              precision="float32", strategy="default",
              jit_compile="off")  # XLA's compile (~5 s) would dominate a 2-step test
  base.update(overrides)
  return Config(**base)


def tiny_flags(**overrides):
  """Command-line flags for tiny(**overrides): every field that differs from Config()."""
  config, default = tiny(**overrides), Config()
  return [f"--{k}={v}" for k, v in config.to_dict().items() if v != getattr(default, k)]


def run_module(module, *args, cwd=REPO, timeout=300, env=None):
  """Runs `python -m module args...` in a subprocess; returns CompletedProcess (text)."""
  import subprocess
  full_env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2")
  full_env.update(env or {})
  return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, capture_output=True,
                        text=True, timeout=timeout, env=full_env)


@pytest.fixture(autouse=True)
def absl_info_logging():
  """Entry points called in-process (bench, sample) lower absl's verbosity; tests that read
  the log with caplog need INFO whatever ran before them."""
  from absl import logging as absl_logging
  absl_logging.set_verbosity(absl_logging.INFO)
  yield
