"""Fault injection: kill -9, SIGTERM/SIGINT, damaged checkpoints, NaN, bad workdirs.

Subprocess tests run `python -m dcgan_tf.train` and check what a user sees: the exit
code and a last stderr line without a traceback that names the file, flag or step.
The other tests call the library in-process, starting from one small trained
workdir (`base_run`: steps 0-4, checkpoints 0, 2, 4) copied per test.

Read-only and full disks are simulated: as root, chmod does not stop writes, so
`read_only()` uses `chattr +i` (immutable folder: no file can be created in it,
even by root; the same errors a read-only mount gives, EPERM instead of EROFS);
without root it uses chmod. The full-disk test needs a small tmpfs mount and is
skipped where mounting is not allowed.
"""

import contextlib
import errno
import glob
import os
import re
import shutil
import signal
import subprocess

import keras
import numpy as np
import pytest

from conftest import REPO, Training, tiny, tiny_flags
from nan_injection import InjectNaN
from dcgan_tf.errors import UserError

BASE_STEPS, BASE_EVERY = 4, 2


def run_train(workdir, *flags):
  """Runs training to its end; returns (exit code, stderr)."""
  return Training(workdir, *flags).finish()


def last_line(stderr):
  assert "Traceback" not in stderr, stderr[-3000:]
  return stderr.strip().splitlines()[-1]


def checkpoint_values(path):
  """{checkpoint key: numpy value} of one checkpoint prefix."""
  import tensorflow as tf
  reader = tf.train.load_checkpoint(path)
  return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
          if k != "_CHECKPOINTABLE_OBJECT_GRAPH"}


def counters(path):
  """(step, G optimizer iterations, D optimizer iterations) saved in a checkpoint."""
  values = checkpoint_values(path)
  # state/0: the optimizer's first variable, its iteration count (checkpoints.py).
  iterations = [int(values[f"{o}_optimizer/state/0/.ATTRIBUTES/VARIABLE_VALUE"]) for o in "gd"]
  return (int(values["step/.ATTRIBUTES/VARIABLE_VALUE"]), *iterations)


def all_finite(path):
  return all(np.all(np.isfinite(v)) for v in checkpoint_values(path).values()
             if np.issubdtype(np.asarray(v).dtype, np.floating))


def checkpoint_steps(workdir):
  return sorted(int(m.group(1)) for f in os.listdir(os.path.join(workdir, "checkpoints"))
                if (m := re.fullmatch(r"ckpt-(\d+)\.index", f)))


def ckpt(workdir, step):
  return os.path.join(workdir, "checkpoints", f"ckpt-{step}")


@contextlib.contextmanager
def read_only(path):
  """Makes the folder `path` unwritable (see the module doc), or skips the test."""
  if os.geteuid() != 0:
    os.chmod(path, 0o555)
    undo = lambda: os.chmod(path, 0o755)  # noqa: E731
  elif shutil.which("chattr") and subprocess.run(["chattr", "+i", path],
                                                 capture_output=True).returncode == 0:
    undo = lambda: subprocess.run(["chattr", "-i", path], check=True)  # noqa: E731
  else:
    pytest.skip("cannot make a folder read-only here (root without chattr +i)")
  try:
    try:
      open(os.path.join(path, ".probe"), "w").close()
    except OSError:
      pass
    else:
      os.remove(os.path.join(path, ".probe"))
      pytest.skip(f"{path} stays writable (filesystem ignores chattr +i)")
    yield path
  finally:
    undo()


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
  from dcgan_tf.train import loop
  workdir = str(tmp_path_factory.mktemp("faults") / "base")
  summary = loop.train(
      tiny(train_steps=BASE_STEPS, checkpoint_every=BASE_EVERY), workdir)
  assert summary["step"] == BASE_STEPS and checkpoint_steps(workdir) == [0, 2, 4]
  return workdir


@pytest.fixture
def run_copy(base_run, tmp_path):
  """A fresh copy of base_run for one test to damage."""
  workdir = str(tmp_path / "run")
  shutil.copytree(base_run, workdir)
  return workdir


def fresh_checkpoints(workdir):
  """base_run's GAN, newly initialised, with the run's checkpoints on `workdir`
  (checkpoints.RunCheckpoints, as train/setup.py makes them)."""
  from dcgan_tf import checkpoints
  from dcgan_tf.train import distribute, faults, setup
  from dcgan_tf.workdir import Workdir
  config = tiny(train_steps=BASE_STEPS, checkpoint_every=BASE_EVERY)
  gan, noise, _ = setup.make_gan(config, distribute.get_strategy("default"))
  return checkpoints.RunCheckpoints(gan, noise, Workdir(workdir), Workdir(workdir),
                                    config.keep_checkpoints, faults.NonFiniteGuard(gan))


def restore_into_fresh_gan(workdir):
  """Restores the newest readable checkpoint into a fresh GAN: (path, step)."""
  run_checkpoints = fresh_checkpoints(workdir)
  path = run_checkpoints.restore()
  return path, int(run_checkpoints.gan.step.numpy())


# ------------------------------------------------------------------ kill -9, signals

@pytest.mark.heavy
def test_sigkill_after_first_checkpoint_then_resume(tmp_path):
  from dcgan_tf.train import loop
  workdir, every = str(tmp_path / "run"), 3
  training = Training(workdir, *tiny_flags(train_steps=10_000, checkpoint_every=every))
  training.wait_for(rf"Saved checkpoint .*ckpt-{every}\b")
  training.proc.send_signal(signal.SIGKILL)
  code, log = training.finish()
  assert code == -signal.SIGKILL
  reached = max(int(s) for s in re.findall(r"step (\d+)/10000", log))
  latest = max(checkpoint_steps(workdir))
  assert latest >= every and reached - latest <= every  # at most --checkpoint_every lost

  summary = loop.train(tiny(train_steps=latest + 2, checkpoint_every=every),
                                         workdir)
  assert summary["start_step"] == latest and summary["step"] == latest + 2
  assert counters(summary["checkpoint"]) == (latest + 2,) * 3  # step and both optimizers
  noise = checkpoint_values(summary["checkpoint"])["fixed_noise/.ATTRIBUTES/VARIABLE_VALUE"]
  np.testing.assert_array_equal(noise, np.load(os.path.join(workdir, "fixed_noise.npy")))


@pytest.mark.heavy
def test_sigterm_checkpoints_the_current_step_and_does_not_export(tmp_path):
  workdir = str(tmp_path / "run")
  training = Training(workdir, *tiny_flags(train_steps=10_000, checkpoint_every=1000,
                                           export=True))
  training.wait_for(r"step 3/10000")
  training.proc.send_signal(signal.SIGTERM)
  code, log = training.finish()
  assert code == 128 + signal.SIGTERM, log[-3000:]
  line = last_line(log)
  step = int(re.search(r"Interrupted by SIGTERM at step (\d+) of 10000", line).group(1))
  assert step >= 3 and ckpt(workdir, step) in line
  assert counters(ckpt(workdir, step)) == (step, step, step)
  assert not os.path.exists(os.path.join(workdir, "saved_model")), "an interrupted run exported"
  # Rerun: resumes at that step, completes and exports.
  from dcgan_tf.train import loop
  summary = loop.train(tiny(train_steps=step + 2, checkpoint_every=1000, export=True), workdir)
  assert summary["start_step"] == step and summary["step"] == step + 2
  assert not summary["interrupted"] and os.path.isfile(
      os.path.join(workdir, "saved_model", "saved_model.pb"))


def test_a_signal_checkpoints_inside_fit_before_keras_drops_its_input(tmp_path, monkeypatch):
  """The stop's checkpoint is on disk when fit returns (then Keras' input iterator is torn
  down, which took 15-29 s); the save after fit finds it and writes nothing more."""
  from dcgan_tf.train import loop
  on_disk = []
  fit_steps = loop.fit_steps

  def checked(gan, dataset, start, steps, callbacks_):
    fit_steps(gan, dataset, start, steps, callbacks_)
    on_disk.append(os.path.isfile(ckpt(workdir, int(gan.step.numpy())) + ".index"))

  class Signal(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
      if int(self.model.step.numpy()) == 2:
        signal.raise_signal(signal.SIGTERM)

  monkeypatch.setattr(loop, "fit_steps", checked)
  workdir = str(tmp_path / "run")
  summary = loop.train(tiny(train_steps=50, checkpoint_every=1000), workdir,
                       extra_callbacks=[Signal()])
  assert summary["interrupted"] == "SIGTERM" and summary["step"] == 2
  assert on_disk == [True] and summary["checkpoint"] == ckpt(workdir, 2)
  assert counters(ckpt(workdir, 2)) == (2, 2, 2)


def test_signal_stop_finishes_the_step_then_restores_handlers():
  from dcgan_tf.train.faults import SignalStop

  class Model:
    stop_training = False

  before = signal.getsignal(signal.SIGINT)
  with SignalStop() as stop:
    stop.set_model(Model())
    signal.raise_signal(signal.SIGINT)  # handled at once: no KeyboardInterrupt
    assert stop.signal_name == "SIGINT" and not stop.model.stop_training
    assert signal.getsignal(signal.SIGINT) is before, "a second Ctrl-C must act as usual"
    stop.after(0, 1, {})  # the step in flight ends: fit stops here
    assert stop.model.stop_training
  assert signal.getsignal(signal.SIGINT) is before


# ------------------------------------------------------------- damaged checkpoints

def test_ctrl_c_on_one_worker_becomes_a_coordinated_sigterm():
  """Multi-worker: SIGINT is forwarded as SIGTERM (which PreemptionCheckpointHandler turns
  into one step for the whole cluster); a second Ctrl-C acts as usual."""
  from dcgan_tf.train.faults import CoordinatedStop
  received = []
  before_int = signal.getsignal(signal.SIGINT)
  before_term = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
  try:
    stop = CoordinatedStop(strategy=None, save=None)
    stop._previous_sigint = signal.signal(signal.SIGINT, stop._forward)
    signal.raise_signal(signal.SIGINT)
    assert received == [signal.SIGTERM]
    assert signal.getsignal(signal.SIGINT) is before_int
  finally:
    signal.signal(signal.SIGINT, before_int)
    signal.signal(signal.SIGTERM, before_term)


def test_truncated_newest_checkpoint_falls_back(run_copy, caplog):
  from dcgan_tf.train import loop
  data = ckpt(run_copy, 4) + ".data-00000-of-00001"
  with open(data, "r+b") as f:
    f.truncate(os.path.getsize(data) // 2)
  summary = loop.train(tiny(train_steps=6, checkpoint_every=BASE_EVERY), run_copy)
  assert summary["start_step"] == 2 and summary["step"] == 6
  assert "ckpt-4 is unreadable" in caplog.text and "falling back" in caplog.text
  assert counters(ckpt(run_copy, 4)) == (4, 4, 4)  # rewritten, readable again


@pytest.mark.parametrize("damage,expected_step", [
    ("corrupt_index", 2),  # bit flips in ckpt-4.index
    ("missing_files", 2),  # the state file lists ckpt-4, its files are gone
    ("garbled_state", 4),  # `checkpoint` is unparsable: the folder listing still finds all
    ("no_state", 4),
])
def test_damaged_checkpoint_folder(run_copy, damage, expected_step):
  folder = os.path.join(run_copy, "checkpoints")
  if damage == "corrupt_index":
    with open(ckpt(run_copy, 4) + ".index", "r+b") as f:
      data = bytearray(f.read())
      data[len(data) // 3: len(data) // 3 + 16] = bytes(b ^ 0xFF for b in data[
          len(data) // 3: len(data) // 3 + 16])
      f.seek(0)
      f.write(data)
  elif damage == "missing_files":
    for path in glob.glob(ckpt(run_copy, 4) + ".*"):
      os.remove(path)
  elif damage == "garbled_state":
    with open(os.path.join(folder, "checkpoint"), "w") as f:
      f.write("garbage {{{")
  else:
    os.remove(os.path.join(folder, "checkpoint"))
  path, step = restore_into_fresh_gan(run_copy)
  assert step == expected_step and path == ckpt(run_copy, expected_step)


def test_no_readable_checkpoint_is_refused_not_restarted(run_copy):
  for path in glob.glob(os.path.join(run_copy, "checkpoints", "ckpt-*.data-*")):
    with open(path, "r+b") as f:
      f.truncate(8)
  with pytest.raises(UserError, match=r"no readable checkpoint in .*checkpoints.*--overwrite"):
    restore_into_fresh_gan(run_copy)


def test_only_damaged_files_are_fallen_back_past(run_copy, monkeypatch):
  """evaluate/sample/export read a damaged checkpoint as one UserError naming it; an error
  that is not the file's (no permission, no memory) is not taken for damage: no silent
  fallback to an older step."""
  import tensorflow as tf
  from dcgan_tf import checkpoints, models
  newest = ckpt(run_copy, 4)
  with open(glob.glob(newest + ".data-*")[0], "r+b") as f:
    f.truncate(8)
  with pytest.raises(UserError, match=r"^checkpoint: .*ckpt-4 is unreadable \(") as err:
    checkpoints.restore_networks(newest, generator=models.build_generator(tiny()))
  assert "\n" not in str(err.value)

  def denied(self, path, options=None):
    raise tf.errors.PermissionDeniedError(None, None, f"{path}: Permission denied")
  monkeypatch.setattr(tf.train.Checkpoint, "restore", denied)
  with pytest.raises(tf.errors.PermissionDeniedError):
    restore_into_fresh_gan(run_copy)


# ---------------------------------------------------------------------- non-finite

def test_nonfinite_weights_roll_back_and_training_goes_on(tmp_path, caplog):
  from dcgan_tf.train import loop
  workdir = str(tmp_path / "run")
  # NaN written after step 2, a checkpoint step: the weight check catches it before the save.
  summary = loop.train(tiny(train_steps=6, checkpoint_every=2, export=True), workdir,
                       extra_callbacks=[InjectNaN(step=2)])
  assert summary["rollbacks"] == 1 and summary["step"] == 6
  assert "Non-finite weights (generator/" in caplog.text and "rolled back to" in caplog.text
  assert checkpoint_steps(workdir) == [2, 4, 6]
  assert all(all_finite(ckpt(workdir, s)) for s in checkpoint_steps(workdir))
  assert counters(ckpt(workdir, 6)) == (6, 6, 6)
  assert os.path.isfile(os.path.join(workdir, "saved_model", "saved_model.pb"))


def test_nonfinite_loss_stops_after_max_rollbacks(tmp_path):
  workdir = str(tmp_path / "run")
  # NaN after step 3 -> non-finite losses at step 4, each time the run gets there.
  code, log = Training(workdir, *tiny_flags(train_steps=8, checkpoint_every=2, max_rollbacks=1,
                                            export=True), "--nan_step=3", "--nan_times=100",
                       entry=[os.path.join(REPO, "tests", "nan_injection.py")]).finish()
  line = last_line(log)
  assert code == 1 and line.startswith("error: non-finite loss")
  assert "at step 4" in line and "max_rollbacks=1" in line and ckpt(workdir, 2) in line
  assert len(re.findall(r"rolled back to .*ckpt-2", log)) == 1
  assert checkpoint_steps(workdir) == [0, 2] and all(
      all_finite(ckpt(workdir, s)) for s in (0, 2))
  assert not os.path.exists(os.path.join(workdir, "saved_model"))


# --------------------------------------------------------------- workdir and input

def test_conflicting_rerun_is_refused(run_copy):
  code, log = run_train(run_copy, *tiny_flags(train_steps=6, latent_dim=8))
  line = last_line(log)
  assert code == 1 and "--latent_dim" in line and "16" in line and "8" in line
  assert "--overwrite" in line
  assert checkpoint_steps(run_copy) == [0, 2, 4]


def test_overwrite_moves_the_old_run_aside(run_copy):
  from dcgan_tf.train import loop
  summary = loop.train(tiny(train_steps=1, latent_dim=8), run_copy, overwrite=True)
  assert summary["start_step"] == 0 and summary["step"] == 1
  [old] = glob.glob(run_copy + ".old-*")
  assert checkpoint_steps(old) == [0, 2, 4]  # nothing deleted


def test_read_only_workdir_is_a_clear_error(run_copy):
  before = {f: os.path.getmtime(os.path.join(run_copy, "checkpoints", f))
            for f in os.listdir(os.path.join(run_copy, "checkpoints"))}
  with read_only(run_copy):
    code, log = run_train(run_copy, *tiny_flags(train_steps=6, checkpoint_every=BASE_EVERY))
  line = last_line(log)
  assert code == 1 and line.startswith(f"error: --workdir: cannot write to {run_copy}:")
  assert before == {f: os.path.getmtime(os.path.join(run_copy, "checkpoints", f))
                    for f in os.listdir(os.path.join(run_copy, "checkpoints"))}
  assert restore_into_fresh_gan(run_copy) == (ckpt(run_copy, 4), 4)


def test_read_only_checkpoints_fail_before_training(run_copy):
  from dcgan_tf.train import loop
  with read_only(os.path.join(run_copy, "checkpoints")):
    with pytest.raises(UserError, match=r"cannot write to .*checkpoints: .*read-only or full"):
      loop.train(tiny(train_steps=6, checkpoint_every=BASE_EVERY), run_copy)


def test_failed_checkpoint_write_keeps_the_previous_one(run_copy):
  from dcgan_tf import checkpoints as ckpt_lib
  manager = fresh_checkpoints(run_copy).manager
  with read_only(os.path.join(run_copy, "checkpoints")):
    with pytest.raises(UserError, match=r"cannot write checkpoint .*ckpt-9 at step 9: "
                       r".*the previous checkpoint .*ckpt-4 is intact"):
      ckpt_lib.save(manager, 9)
  assert checkpoint_steps(run_copy) == [0, 2, 4] and not glob.glob(ckpt(run_copy, 9) + "*")
  assert restore_into_fresh_gan(run_copy)[1] == 4


def test_full_disk_keeps_the_previous_checkpoint(run_copy, tmp_path):
  from dcgan_tf import checkpoints as ckpt_lib
  mount = tmp_path / "small_disk"
  mount.mkdir()
  if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs",
                                          str(mount)], capture_output=True).returncode:
    pytest.skip("needs a tmpfs mount (root with CAP_SYS_ADMIN)")
  try:
    workdir = str(mount / "run")
    shutil.copytree(run_copy, workdir)
    with open(mount / "filler", "wb") as f:  # fill the disk to the last block
      with contextlib.suppress(OSError):
        while True:
          f.write(b"\0" * 65536)
          f.flush()
    manager = fresh_checkpoints(workdir).manager
    with pytest.raises(UserError, match=r"ckpt-9 at step 9: .*No space left on device"):
      ckpt_lib.save(manager, 9)
    assert not glob.glob(os.path.join(workdir, "checkpoints", "ckpt-9*"))  # temp files removed
    assert restore_into_fresh_gan(workdir)[1] == 4
  finally:
    subprocess.run(["umount", str(mount)], check=False)


def test_paths_are_checked_before_anything_is_written(tmp_path):
  from dcgan_tf.train import loop
  a_file = tmp_path / "file"
  a_file.write_text("x")
  with pytest.raises(UserError, match=r"^workdir: .*file.* is a file"):
    loop.train(tiny(), str(a_file))
  with pytest.raises(UserError, match=r"^data_dir: folder .*nope.* does not exist"):
    loop.train(tiny(data_dir=str(tmp_path / "nope")), str(tmp_path / "w"))
  with pytest.raises(UserError, match=r"^seed: must be in \[0, 2\*\*32 - 1\], got -1"):
    loop.train(tiny(seed=-1), str(tmp_path / "w"))
  assert not (tmp_path / "w").exists()


def test_cli_maps_environment_errors_to_one_line():
  import tensorflow as tf
  from dcgan_tf import cli
  error = tf.errors.PermissionDeniedError(
      None, None, "{{function_node __wrapped__SaveV2}} /w/ckpt-9_temp; Read-only file system "
      "[Op:SaveV2]")
  assert cli.user_message(error) == "PermissionDenied: /w/ckpt-9_temp; Read-only file system"
  assert cli.user_message(UserError("step 4")) == "step 4"
  # A setting's error names the field in the library, its flag on the command line.
  assert str(UserError("must be >= 1, got 0", "batch_size")) == "batch_size: must be >= 1, got 0"
  assert cli.user_message(UserError("must be >= 1, got 0", "batch_size")) == \
      "--batch_size: must be >= 1, got 0"
  assert cli.user_message(ValueError("bug")) is None  # only UserError is the user's
  assert cli.user_message(OSError(28, "No space left on device", "/w/x.npy")) == \
      "No space left on device: /w/x.npy"
  assert cli.user_message(PermissionError(13, "Permission denied", "/w")) == \
      "Permission denied: /w"
  assert cli.user_message(OSError(errno.ESTALE, "Stale file handle", "/nfs/w")) == \
      "Stale file handle: /nfs/w"  # a shared filesystem lost the user's path
  # An OSError that no user path explains (a bad file descriptor: our bug) keeps its traceback.
  assert cli.user_message(OSError(9, "Bad file descriptor")) is None
  assert cli.user_message(tf.errors.InvalidArgumentError(None, None, "bug")) is None
  assert cli.user_message(KeyError("bug")) is None  # bugs keep their traceback


def test_data_seed_reshuffles_after_resume_and_rollback():
  from dcgan_tf import seeds
  from dcgan_tf.data import data_seed
  # A fresh run shuffles with the "data_order" stream of --seed alone.
  assert data_seed(7, 0, 0) == seeds.derive(7, "data_order", 0, 0, 0)
  drawn = {data_seed(7, step, rollbacks) for step in (0, 500, 1000) for rollbacks in (0, 1, 2)}
  assert len(drawn) == 9 and all(0 <= s < 2 ** 31 for s in drawn)
  assert data_seed(7, 500, 1) == data_seed(7, 500, 1)  # deterministic
  from dcgan_tf import data
  first = [next(iter(data.make_dataset(tiny(seed=7), seed=s)[0]))[1].numpy()
           for s in (data_seed(7, 0, 0), data_seed(7, 500, 0))]
  assert not np.array_equal(*first), "a resumed run replays the run's first batch"
