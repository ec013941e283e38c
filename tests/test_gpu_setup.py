"""A GPU machine gets a TensorFlow that uses its GPU, and a run says which device trains.

The GPU is faked on any machine: a stub `nvidia-smi` on a temporary PATH stands for the
driver, and CUDA_VISIBLE_DEVICES="" (or a stubbed device list) for a TensorFlow without
CUDA libraries, so these tests mean the same on CPU and GPU machines.
"""

import os
import shutil
import subprocess
import sys

import pytest

from conftest import REPO, tiny_flags
from dcgan_tf.errors import UserError

STUB = '#!/bin/sh\n[ "$1" = "-L" ] && echo "GPU 0: Stub GPU (UUID: GPU-stub)"\n'


def _bin(tmp_path, with_gpu):
  """A PATH folder holding what `make -n install` runs, plus a stub nvidia-smi if asked;
  it replaces PATH, so a real nvidia-smi stays out of sight."""
  folder = tmp_path / ("gpu" if with_gpu else "cpu")
  folder.mkdir()
  for tool in ("sh", "sed", "grep", "python3"):
    os.symlink(shutil.which(tool) or sys.executable, folder / tool)
  if with_gpu:
    (folder / "nvidia-smi").write_text(STUB)
    (folder / "nvidia-smi").chmod(0o755)
  return str(folder)


@pytest.mark.parametrize("with_gpu, package", [(True, '"tensorflow[and-cuda]>=2.21,<2.22"'),
                                               (False, '"tensorflow-cpu>=2.21,<2.22"')])
def test_make_install_picks_the_cuda_build_where_nvidia_smi_lists_a_gpu(tmp_path, with_gpu,
                                                                         package):
  make = shutil.which("make")
  if make is None:
    pytest.skip("make is not installed (.ci/run installs it)")
  result = subprocess.run([make, "-n", "install"], cwd=REPO, capture_output=True, text=True,
                          env={"PATH": _bin(tmp_path, with_gpu)}, timeout=60)
  assert result.returncode == 0, result.stderr
  pip = [line for line in result.stdout.splitlines() if "pip install" in line]
  assert len(pip) == 1 and package in pip[0], result.stdout
  requirements = open(os.path.join(REPO, "requirements.txt")).read()
  assert ">=2.21,<2.22" in requirements  # the pin the rule copies


def test_a_gpu_tensorflow_cannot_see_is_a_warning_or_with_require_gpu_an_error(
    tmp_path, monkeypatch, caplog):
  from dcgan_tf import devices
  monkeypatch.setattr(devices, "has_gpu", lambda: False)
  monkeypatch.setenv("PATH", _bin(tmp_path, with_gpu=True))
  assert devices.driver_gpus() == ["GPU 0: Stub GPU (UUID: GPU-stub)"]
  devices.check_gpu(require=False)
  warning = [r.getMessage() for r in caplog.records if "nvidia-smi lists 1 GPU" in r.getMessage()]
  assert warning and "tensorflow[and-cuda]" in warning[0] and "training on the CPU" in warning[0]
  with pytest.raises(UserError, match="--require_gpu: nvidia-smi lists 1 GPU"):
    devices.check_gpu(require=True)
  # No driver, no GPU: nothing to say, unless a GPU is required.
  monkeypatch.setenv("PATH", _bin(tmp_path, with_gpu=False))
  caplog.clear()
  devices.check_gpu(require=False)
  assert not caplog.records
  with pytest.raises(UserError, match="sees no GPU and nvidia-smi lists none"):
    devices.check_gpu(require=True)
  monkeypatch.setattr(devices, "has_gpu", lambda: True)
  devices.check_gpu(require=True)  # a GPU TensorFlow sees: fine


def test_require_gpu_stops_the_command_in_one_line_before_writing(tmp_path):
  workdir = tmp_path / "run"
  env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="",
             PATH=_bin(tmp_path, with_gpu=True) + os.pathsep + os.environ["PATH"])
  result = subprocess.run(
      [sys.executable, "-m", "dcgan_tf.train", *tiny_flags(), "--require_gpu",
       f"--workdir={workdir}"], cwd=REPO, capture_output=True, text=True, env=env, timeout=300)
  assert result.returncode == 1, result.stderr[-2000:]
  assert "Traceback" not in result.stderr
  line = result.stderr.strip().splitlines()[-1]
  assert line.startswith("error: --require_gpu: nvidia-smi lists 1 GPU(s) but TensorFlow sees "
                         "none"), line
  assert "tensorflow[and-cuda]" in line
  assert not workdir.exists()


def test_the_run_log_names_devices_strategy_precision_and_xla(tmp_path, caplog):
  from dcgan_tf.train import loop
  from conftest import tiny
  loop.train(tiny(train_steps=1, jit_compile="off"), str(tmp_path / "run"))
  line = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Training on ")]
  assert len(line) == 1, line
  assert "devices CPU:0" in line[0] and "strategy DefaultDistributionStrategy with 1 replica(s)" \
      in line[0] and "precision float32" in line[0] and "XLA off" in line[0], line[0]
