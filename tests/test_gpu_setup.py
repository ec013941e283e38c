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
  assert len(pip) == 2 and package in pip[0], result.stdout
  # The serving protos without their `tensorflow` dependency: no second TensorFlow.
  assert "--no-deps" in pip[1] and "tensorflow-serving-api" in pip[1] and package not in pip[1]
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
  with pytest.raises(UserError, match="^require_gpu: nvidia-smi lists 1 GPU"):
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


def _driver_stub(tmp_path, version, compute_cap):
  """A PATH folder whose nvidia-smi lists one GPU and answers the driver and capability
  queries; compute_cap None: an old nvidia-smi that does not know that field (exit 2)."""
  folder = tmp_path / f"driver-{version}-{compute_cap}"
  folder.mkdir()
  cap = f'echo "{compute_cap}"' if compute_cap else 'echo "Field compute_cap is not valid"; exit 2'
  (folder / "nvidia-smi").write_text(
      '#!/bin/sh\n[ "$1" = "-L" ] && echo "GPU 0: Stub GPU (UUID: GPU-stub)"\n'
      f'case "$1" in --query-gpu=driver_version) echo "{version}";;\n'
      f'  --query-gpu=compute_cap) {cap};;\n  --query-gpu=*) exit 2;; esac\n')
  (folder / "nvidia-smi").chmod(0o755)
  return str(folder) + os.pathsep + os.environ["PATH"]


@pytest.mark.parametrize("version, compute_cap, expected", [
    ("470.82.01", "8.6", "older than CUDA 12 needs (525.60.13)"),
    ("470.82.01", None, "older than CUDA 12 needs (525.60.13)"),  # no compute_cap field
    ("535.104.05", "9.0", "compute capability >= 9.0 needs a CUDA 12.5 driver, 555.42"),
    ("535.104.05", "8.9", None),  # Ada: binary kernels in the wheel, no PTX JIT
    ("535.104.05", "8.6\n9.0", "compute capability >= 9.0"),  # any Hopper among the GPUs
    ("560.35.03", "9.0", None),
    ("525.60.13", "8.0", None)])
def test_an_old_driver_is_named_with_its_version(tmp_path, monkeypatch, caplog, version,
                                                  compute_cap, expected):
  from dcgan_tf import devices
  monkeypatch.setenv("PATH", _driver_stub(tmp_path, version, compute_cap))
  problem = devices.driver_problem()
  if expected is None:
    assert problem is None
    return
  assert expected in problem and f"driver {version}" in problem
  monkeypatch.setattr(devices, "has_gpu", lambda: True)
  devices.check_gpu(require=False)  # the check a training run makes logs it
  assert any(f"driver {version}" in r.getMessage() for r in caplog.records)


def test_memory_growth_is_on_unless_the_user_chose(tmp_path):
  """Every process that imports dcgan_tf (entry points, the test workers, their
  subprocesses) turns on TensorFlow's GPU memory growth before TensorFlow initialises."""
  assert os.environ.get("TF_FORCE_GPU_ALLOW_GROWTH") == "true"  # this test process too
  code = "import dcgan_tf, os; print(os.environ['TF_FORCE_GPU_ALLOW_GROWTH'])"
  for given, expected in ((None, "true"), ("false", "false")):
    env = {k: v for k, v in os.environ.items() if k != "TF_FORCE_GPU_ALLOW_GROWTH"}
    if given is not None:
      env["TF_FORCE_GPU_ALLOW_GROWTH"] = given
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, env=dict(env, PYTHONPATH=REPO), timeout=60)
    assert result.stdout.strip() == expected, result.stderr


def test_default_strategy_on_several_gpus_trains_on_the_first(monkeypatch, caplog):
  import tensorflow as tf
  from dcgan_tf.train import distribute
  gpus = [tf.config.PhysicalDevice(f"/physical_device:GPU:{i}", "GPU") for i in range(4)]
  visible = []
  monkeypatch.setattr(tf.config, "get_visible_devices", lambda kind=None: list(gpus))
  monkeypatch.setattr(tf.config, "set_visible_devices",
                      lambda devices, kind=None: visible.append((list(devices), kind)))
  strategy = distribute.get_strategy("default")
  assert strategy.num_replicas_in_sync == 1
  assert visible == [([gpus[0]], "GPU")]  # the other three are never initialised
  assert any("training on /physical_device:GPU:0 only, 3 other GPU(s) left free"
             in r.getMessage() for r in caplog.records)
  # Too late to hide them (TensorFlow initialised): a warning, and training goes on.
  def too_late(devices, kind=None):
    raise RuntimeError("Visible devices cannot be modified after being initialized")
  monkeypatch.setattr(tf.config, "set_visible_devices", too_late)
  caplog.clear()
  assert distribute.get_strategy("default").num_replicas_in_sync == 1
  assert any("already initialised" in r.getMessage() for r in caplog.records)
  # One GPU: nothing to hide.
  monkeypatch.setattr(tf.config, "get_visible_devices", lambda kind=None: gpus[:1])
  monkeypatch.setattr(tf.config, "set_visible_devices", lambda *a: visible.append(a))
  strategy = distribute.get_strategy("default")
  assert len(visible) == 1
  # ... and the one device is a OneDeviceStrategy on it, so input is prefetched to the GPU,
  # with XLA still on (Keras' "auto" would turn it off under any strategy).
  assert isinstance(strategy, tf.distribute.OneDeviceStrategy)
  assert strategy.extended.worker_devices == ("/job:localhost/replica:0/task:0/device:GPU:0",)
  from dcgan_tf import devices
  assert devices.resolve_jit_compile("auto", strategy) is True
  assert devices.resolve_jit_compile("off", strategy) is False


@pytest.mark.heavy
def test_one_device_strategy_prefetches_input_and_trains_as_the_default(tmp_path, monkeypatch):
  """The single-GPU path reproduced on the CPU: OneDeviceStrategy('/cpu:0') in place of
  '/gpu:0'. Its distributed dataset (which copies batches to the device ahead of the step)
  is what fit reads, and the run's weights equal the default strategy's bit for bit (the
  same ops on the same device, in the same order)."""
  import numpy as np
  import tensorflow as tf
  from conftest import tiny
  from dcgan_tf import data, inference
  from dcgan_tf.train import distribute, loop
  one = tf.distribute.OneDeviceStrategy("/cpu:0")
  dataset, _ = distribute.distributed_dataset(
      one, lambda ctx: data.make_dataset(tiny(), input_context=ctx, uint8=True), 16)
  assert isinstance(dataset, tf.distribute.DistributedDataset)  # not host tensors
  assert next(iter(dataset))[0].dtype == tf.uint8  # scaled in the step, not before
  from dcgan_tf.train import build
  weights, gans, build_gan = {}, [], build.build_gan
  monkeypatch.setattr(build, "build_gan", lambda *a: gans.append(build_gan(*a)) or gans[-1])
  # TensorFlow's default strategy for the first run, whatever get_strategy picks here.
  # XLA on for both (what a GPU's one-device run compiles: resolve_jit_compile above). The
  # default strategy's run is also the float32 case of test_precision's XLA test.
  for name, strategy in (("default", tf.distribute.get_strategy()), ("one", one)):
    monkeypatch.setattr(distribute, "get_strategy", lambda _, s=strategy: s)
    with tf.device("/CPU:0"):  # the default strategy's run on the CPU too, on a GPU machine
      loop.train(tiny(train_steps=2, jit_compile="on"), str(tmp_path / name))
    assert gans[-1][0].jit_compile is True  # the step was compiled by XLA, not run as a graph
    run = inference.load_run(str(tmp_path / name))
    weights[name] = [v.numpy() for v in run.generator.variables + run.discriminator.variables]
  assert all(np.array_equal(a, b) for a, b in zip(weights["default"], weights["one"]))
  assert all(np.all(np.isfinite(w)) for w in weights["one"])
  initial = inference.load_run(str(tmp_path / "one"), checkpoint="0")
  trained = inference.load_run(str(tmp_path / "one"))
  for before, after in ((initial.generator, trained.generator),
                        (initial.discriminator, trained.discriminator)):  # both trained
    assert any(not np.array_equal(a.numpy(), b.numpy()) for a, b in zip(
        before.trainable_variables, after.trainable_variables))


def test_has_gpu_answers_from_the_logical_devices(monkeypatch):
  """A GPU hidden from TensorFlow (listed physically, not logically) picks the CPU defaults."""
  import tensorflow as tf
  from dcgan_tf import devices
  gpu = tf.config.PhysicalDevice("/physical_device:GPU:0", "GPU")
  monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [gpu])
  monkeypatch.setattr(tf.config, "list_logical_devices", lambda kind=None: [])
  assert not devices.has_gpu()
  assert devices.resolve_precision("auto") == "float32"
  assert devices.resolve_conv_impl("auto") == "subpixel"
  logical = tf.config.LogicalDevice("/device:GPU:0", "GPU")
  monkeypatch.setattr(tf.config, "list_logical_devices",
                      lambda kind=None: [logical] if kind in (None, "GPU") else [])
  assert devices.has_gpu() and devices.resolve_precision("auto") == "mixed_float16"
