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


@pytest.mark.parametrize("args,needles", [
    (["--dataset=nope"], ["--dataset", "nope", "digits"]),
    (["--image_size=48"], ["--image_size", "48", "32, 64, 128"]),
    (["--variant=wgan"], ["--variant", "dcgan"]),
    (["--precision=fp8"], ["--precision", "mixed_bfloat16"]),
    (["--batch_size=0"], ["--batch_size", ">= 1"]),
    (["--config=missing_experiment"], ["--config", "digits"]),
])
def test_bad_flags_fail_cleanly(tmp_path, args, needles):
  result = run_module("dcgan_tf.train", f"--workdir={tmp_path / 'w'}", *args)
  _one_line_error(result, *needles)
  assert not (tmp_path / "w").exists(), "a refused run must not create its workdir"


def test_non_numeric_flag(tmp_path):
  result = run_module("dcgan_tf.train", f"--workdir={tmp_path}", "--image_size=big")
  assert result.returncode != 0 and "Traceback" not in result.stderr
  assert "image_size" in result.stderr


def test_help_explains_every_config_field():
  from dcgan_tf.config import field_help
  result = run_module("dcgan_tf.train", "--help")  # absl's --help exits 1 by design
  assert "Traceback" not in result.stderr
  for name in field_help():
    assert f"--{name}:" in result.stdout or f"--[no]{name}:" in result.stdout, name
