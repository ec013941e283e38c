"""Per-step actions fire when their period boundary is crossed, whatever
steps_per_execution is; --steps_per_execution=auto per device."""

import os

import pytest

from conftest import tiny


def test_crossed_is_a_multiple_inside_the_round():
  from dcgan_tf.train.callbacks import crossed
  assert crossed(9, 10, 10) and crossed(8, 11, 10) and crossed(0, 30, 10)
  assert not crossed(10, 12, 10) and not crossed(0, 9, 10)
  assert not crossed(0, 100, 0)  # period 0: off


@pytest.mark.parametrize("steps_per_execution", ["3", "4"])
def test_rounds_of_several_steps_still_checkpoint_sample_and_log_inside_the_run(
    tmp_path, steps_per_execution):
  """30 steps, periods of 10: each action fires at the end of the round that crosses a
  multiple of 10 (k=3: steps 12, 21, 30; k=4: 12, 20, 28 and the end, 30)."""
  from dcgan_tf.train import loop
  from dcgan_tf.workdir import step_of
  k = int(steps_per_execution)
  expected = sorted({min(30, -(-m // k) * k) for m in (10, 20, 30)})  # first round end >= m
  workdir = str(tmp_path / "run")
  summary = loop.train(tiny(train_steps=30, steps_per_execution=steps_per_execution,
                            checkpoint_every=10, sample_every=10, log_every=10,
                            keep_checkpoints=10), workdir)
  assert summary["step"] == 30
  saved = sorted({step_of(f.rsplit(".", 1)[0]) for f in os.listdir(
      os.path.join(workdir, "checkpoints")) if f.startswith("ckpt-")})
  assert saved == [0] + expected, saved
  grids = sorted(os.listdir(os.path.join(workdir, "samples")))
  assert grids == [f"step_{s:07d}.png" for s in expected], grids


@pytest.mark.heavy
def test_a_resume_off_the_rounds_realigns_them(tmp_path, caplog):
  """5 steps at 1 per call, then a resume at 4 per call to 30: one short round 5 -> 8, then
  rounds ending on multiples of 4, so a period of 10 fires at 12, 20 and 30 (the end), and
  the run ends at exactly 30."""
  from dcgan_tf.train import loop
  from dcgan_tf.workdir import step_of
  workdir = str(tmp_path / "run")
  flags = dict(checkpoint_every=10, sample_every=1000, log_every=10, keep_checkpoints=10)
  loop.train(tiny(train_steps=5, steps_per_execution="1", **flags), workdir)
  summary = loop.train(tiny(train_steps=30, steps_per_execution="4", **flags), workdir)
  assert summary["step"] == 30
  saved = sorted({step_of(f.rsplit(".", 1)[0]) for f in os.listdir(
      os.path.join(workdir, "checkpoints")) if f.startswith("ckpt-")})
  assert saved == [0, 5, 12, 20, 30], saved
  logged = [int(m.split()[1].split("/")[0]) for m in (r.getMessage() for r in caplog.records)
            if m.startswith("step ") and "/30" in m]
  assert logged == [8, 12, 20, 28, 30], logged  # 8: the short round's fit ends unlogged


@pytest.mark.parametrize("gpu, periods, expected", [
    (False, dict(), 1),  # CPU: one step per call
    (True, dict(log_every=50, sample_every=500, checkpoint_every=500), 25),  # gcd 50
    (True, dict(log_every=100, sample_every=1000, checkpoint_every=1000), 25),  # 32 does not divide 100
    (True, dict(log_every=64, sample_every=512, checkpoint_every=512), 32),  # the ceiling
    (True, dict(log_every=50, eval_every=125), 25),
    (True, dict(log_every=7, sample_every=14, checkpoint_every=70), 7),
    (True, dict(log_every=7, sample_every=1000, checkpoint_every=1000), 1)])  # gcd 1
def test_auto_steps_per_execution(monkeypatch, gpu, periods, expected):
  from dcgan_tf import devices
  monkeypatch.setattr(devices, "has_gpu", lambda: gpu)
  config = tiny(steps_per_execution="auto", **periods)
  assert devices.resolve_steps_per_execution("auto", config) == expected
  assert devices.resolve_steps_per_execution("3", config) == 3  # explicit wins


def test_training_batches_cross_as_uint8_and_are_scaled_in_the_step():
  """The training pipeline's uint8 batches, scaled inside the train step, train exactly
  as the float pipeline's: same values (one cast and divide either way), same step."""
  import numpy as np
  import tensorflow as tf
  from dcgan_tf import data, images
  from dcgan_tf.train import setup
  config = tiny()
  as_uint8 = next(iter(data.make_dataset(config, uint8=True)[0]))
  as_float = next(iter(data.make_dataset(config)[0]))
  assert as_uint8[0].dtype == tf.uint8 and as_float[0].dtype == tf.float32
  np.testing.assert_array_equal(as_uint8[1], as_float[1])
  # The same float32 ops on the same values (in tf.data or in the step): bit-equal.
  np.testing.assert_array_equal(images.scale_to_unit(as_uint8[0]).numpy(), as_float[0].numpy())
  logs = []
  for batch in (as_uint8, as_float):
    gan, _, _ = setup.make_gan(config, tf.distribute.get_strategy())
    with tf.device("/CPU:0"):  # one device, deterministic kernels: exact comparison
      logs.append({k: float(v[0]) for k, v in gan.train_step(batch).items()})
  assert logs[0] == logs[1]
  # Float augmentation (flips) needs float images: that pipeline stays float32.
  flipped = next(iter(data.make_dataset(config.replace(random_flip=True), uint8=True)[0]))
  assert flipped[0].dtype == tf.float32


def test_actions_after_a_tripped_guard_skip_the_round():
  """A round the non-finite guard rejects is rolled back: no later action logs, samples,
  evaluates or saves it, except the ones that must run every round (the coordinated stop);
  its fit's end is not an end either."""
  import tensorflow as tf
  from dcgan_tf.train import callbacks, faults

  class GAN:
    stop_training = False
    step = tf.Variable(0, dtype=tf.int64)

  class Record(callbacks.Action):
    def __init__(self, always=False):
      super().__init__()
      self.always, self.rounds, self.ended = always, [], []

    def after(self, previous, step, logs):
      self.rounds.append(step)

    def end(self, step):
      self.ended.append(step)

  gan = GAN()
  guard, later, every_round = faults.NonFiniteGuard(gan), Record(), Record(always=True)
  actions = callbacks.RunActions(gan, [guard, later, every_round])
  actions.on_train_begin()
  gan.step.assign(1)
  actions.on_train_batch_end(0, {"d_loss": 1.0})
  gan.step.assign(2)
  actions.on_train_batch_end(1, {"d_loss": float("nan")})
  actions.on_train_end()
  assert guard.tripped and guard.step == 2 and gan.stop_training
  assert later.rounds == [1] and later.ended == []
  assert every_round.rounds == [1, 2] and every_round.ended == [2]
