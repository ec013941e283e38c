"""Shared fixtures: tiny configs that train in seconds on CPU."""

import os
import queue
import re
import subprocess
import sys
import threading
import time

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
              jit_compile="off",  # XLA's compile (~5 s) would dominate a 2-step test
              # Keras' own stride-2 convolutions: the GPU default (what most users run), the
              # same on every machine, and ~40% less to build and trace than the CPU default
              # (models/subpixel.py), which has its own tests: layer by layer against Keras
              # (test_bench) and a run trained with it resumed with Keras' (test_resume).
              conv_impl="keras",
              # One batch of 256 z for the EMA G's batch-norm statistics, not 16 (train/ema.py):
              # a third of a tiny run's time otherwise; test_ema covers the recomputation.
              ema_stat_samples=256,
              # The final export ships the EMA G without scoring both Gs first (two SWD
              # evaluations of 2,000 samples, ~20 s); test_train_eval covers the choice.
              export_generator="ema")
  base.update(overrides)
  if not base.get("ema_decay", Config.ema_decay):  # no EMA G: nothing to choose, "ema" refused
    base["export_generator"] = overrides.get("export_generator", "best")
  return Config(**base)


def tiny_gan(**overrides):
  """(GAN compiled as training builds it for tiny(**overrides), one batch of the tiny digits
  data: images float32 [B, S, S, C] in [-1, 1], labels int32 [B]).

  Built by train/setup.make_gan, as a run builds it (global seed, precision policy, build);
  a conditional config's class count resolved as for unlabelled data (its own, else 1).
  """
  import tensorflow as tf
  from dcgan_tf import config as config_lib
  from dcgan_tf import data
  from dcgan_tf.train import setup
  config = config_lib.resolve_classes(tiny(**overrides))
  gan, _, _ = setup.make_gan(config, tf.distribute.get_strategy())
  ds, _ = data.make_dataset(config)
  return gan, next(iter(ds))


class TrainState:
  """The values of every variable a train step writes (G, D, the EMA copy, both optimizers,
  the step counter), taken now: restore() puts them back, so a test can replay a step's
  parts from where it started."""

  def __init__(self, gan):
    variables = (gan.variables + gan.d_optimizer.variables + gan.g_optimizer.variables
                 + [gan.step])
    self.values = [(v, v.numpy().copy()) for v in variables]

  def restore(self):
    for variable, value in self.values:
      variable.assign(value)


# The digits classifier of the tests that need features worth trusting (held-out accuracy
# above 0.8): all 1,797 digits, 12 epochs. Those tests share one cache folder and one
# xdist group (`--dist loadgroup` in `make test`), so it is trained once per run of the suite.
TRUSTED_CLASSIFIER = dict(classifier_examples=1797, classifier_epochs=12)
CLASSIFIER_GROUP = pytest.mark.xdist_group("digits_classifier")


@pytest.fixture(scope="session")
def classifier_cache(tmp_path_factory):
  """evaluate's cache_dir for TRUSTED_CLASSIFIER (and the real features of those tests)."""
  return str(tmp_path_factory.mktemp("classifier_cache"))


def trusted_classifier(cache):
  """(Keras classifier, info) of TRUSTED_CLASSIFIER on tiny()'s digits, as evaluate's
  Context trains (and caches) it: evaluate/classifier.py on 90% of the digits, the other
  10% scoring info["held_out_accuracy"]."""
  from dcgan_tf import inference
  from dcgan_tf.evaluate.context import Context, Settings
  run = inference.Run(workdir=None, config=tiny(), generator=None, discriminator=None,
                      step=0, checkpoint="")
  settings = Settings(num_samples=2, seed=0, feature_extractor="classifier", cache_dir=cache,
                      **TRUSTED_CLASSIFIER)
  return Context(run, settings).classifier


def tiny_flags(**overrides):
  """Command-line flags for tiny(**overrides): every field that differs from Config()."""
  config, default = tiny(**overrides), Config()
  return [f"--{k}={v}" for k, v in config.to_dict().items() if v != getattr(default, k)]


def run_module(module, *args, cwd=REPO, timeout=300, env=None):
  """Runs `python -m module args...` in a subprocess; returns CompletedProcess (text)."""
  full_env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2")
  full_env.update(env or {})
  return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, capture_output=True,
                        text=True, timeout=timeout, env=full_env)


class Training:
  """A `python -m dcgan_tf.train` subprocess whose stderr is read line by line."""

  def __init__(self, workdir, *flags, entry=("-m", "dcgan_tf.train"), env=None):
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2", **(env or {}))
    self.proc = subprocess.Popen(
        [sys.executable, *entry, f"--workdir={workdir}", *flags], cwd=REPO,
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    self.lines, self._queue = [], queue.Queue()
    self._reader = threading.Thread(target=self._read, daemon=True)
    self._reader.start()

  def _read(self):
    for line in self.proc.stderr:
      self.lines.append(line)
      self._queue.put(line)
    self._queue.put(None)

  def wait_for(self, pattern, timeout=240):
    """Blocks until a stderr line matches `pattern`; returns the match."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
      try:
        line = self._queue.get(timeout=1)
      except queue.Empty:
        continue
      if line is None:
        raise AssertionError(f"exited before {pattern!r}:\n{self.tail()}")
      match = re.search(pattern, line)
      if match:
        return match
    self.proc.kill()
    raise AssertionError(f"no {pattern!r} within {timeout}s:\n{self.tail()}")

  def finish(self, timeout=240):
    """Waits for the exit; returns (exit code, whole stderr)."""
    self.proc.wait(timeout=timeout)
    self._reader.join(timeout=30)
    self.proc.stdout.close()
    return self.proc.returncode, "".join(self.lines)

  def tail(self, n=15):
    return "".join(self.lines[-n:])


@pytest.fixture(autouse=True)
def absl_info_logging():
  """Entry points called in-process (bench, sample) lower absl's verbosity; tests that read
  the log with caplog need INFO whatever ran before them."""
  from absl import logging as absl_logging
  absl_logging.set_verbosity(absl_logging.INFO)
  yield


def pytest_configure(config):
  config.addinivalue_line(
      "markers", "heavy: a test of 15 s or more (several processes, XLA or a classifier): "
      "collected first, so that `-n 2` starts the long ones early and the two workers end "
      "together instead of one finishing a long test alone")


def pytest_collection_modifyitems(items):
  """Heavy tests first (a stable sort: the rest keep their order). xdist hands the first
  items out round-robin, so the longest tests are spread over the workers from the start
  (longest-first scheduling), not left to whichever worker reaches their module last."""
  items.sort(key=lambda item: item.get_closest_marker("heavy") is None)
