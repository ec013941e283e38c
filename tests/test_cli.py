"""Command-line behaviour: user errors are one line on stderr, exit non-zero, no traceback."""

import pytest

from conftest import run_module


def _one_line_error(result, *needles):
  assert result.returncode != 0
  assert "Traceback" not in result.stderr
  last = result.stderr.strip().splitlines()[-1]
  for needle in needles:
    assert needle in last, last
  return last


def test_a_bad_flag_is_one_line_and_creates_nothing(tmp_path):
  result = run_module("dcgan_tf.train", f"--workdir={tmp_path / 'w'}", "--image_size=48")
  _one_line_error(result, "--image_size", "48", "32, 64, 128")
  assert not (tmp_path / "w").exists(), "a refused run must not create its workdir"


@pytest.mark.parametrize("config_name,overrides,needles", [
    (None, {"dataset": "nope"}, ["--dataset", "nope", "digits"]),
    (None, {"variant": "wgan"}, ["--variant", "dcgan"]),
    (None, {"precision": "fp8"}, ["--precision", "mixed_bfloat16"]),
    (None, {"batch_size": 0}, ["--batch_size", ">= 1"]),
    ("missing_experiment", {}, ["--config", "digits"]),
])
def test_bad_flag_values_name_the_flag_in_one_line(config_name, overrides, needles):
  """What cli.config_from_flags raises for each bad value, as the CLI prints it (one line)."""
  from dcgan_tf import cli
  from dcgan_tf import config as config_lib
  from dcgan_tf.errors import UserError
  with pytest.raises(UserError) as error:
    config_lib.resolve_config(config_name, overrides)
  message = cli.user_message(error.value)
  assert "\n" not in message
  for needle in needles:
    assert needle in message, message


def test_non_numeric_flag(tmp_path):
  result = run_module("dcgan_tf.train", f"--workdir={tmp_path}", "--image_size=big")
  assert result.returncode != 0 and "Traceback" not in result.stderr
  assert "image_size" in result.stderr


def _help_fields():
  import dataclasses
  from dcgan_tf.config import Config
  from dcgan_tf.train.__main__ import RunOptions
  from dcgan_tf.evaluate.evaluator import Options
  from dcgan_tf.sample.pictures import SampleOptions
  from dcgan_tf.export.savedmodel import ExportOptions
  from dcgan_tf.bench.settings import BenchOptions
  names = lambda *classes: [f.name for c in classes for f in dataclasses.fields(c)]  # noqa: E731
  return {"dcgan_tf.train": names(Config, RunOptions), "dcgan_tf.evaluate": names(Options),
          "dcgan_tf.sample": names(SampleOptions), "dcgan_tf.export": names(ExportOptions),
          "dcgan_tf.bench": names(BenchOptions)}


@pytest.mark.parametrize("module", ["dcgan_tf.train", "dcgan_tf.evaluate", "dcgan_tf.sample",
                                    "dcgan_tf.export", "dcgan_tf.bench"])
def test_helpshort_explains_every_option(module):
  """Every field of the entry point's options dataclass is a flag its --helpshort explains."""
  result = run_module(module, "--helpshort")  # absl's help exits 1 by design
  assert "Traceback" not in result.stderr
  fields = _help_fields()[module]
  assert fields
  for name in fields:
    assert f"--{name}:" in result.stdout or f"--[no]{name}:" in result.stdout, name
  assert "debug" not in result.stdout  # testing aids are not user flags
