"""tf.distribute: two replicas train like one device; two workers train, checkpoint and export.

Logical devices must be configured before TensorFlow initialises, so the mirrored
run happens in a subprocess: this file run as a script (`python test_distribute.py
mirrored OUTDIR`). The multi-worker test starts two `python -m dcgan_tf.train`
processes with TF_CONFIG on 127.0.0.1 and stops them the ways a cluster stops: kill -9 of
one worker, SIGTERM (preemption) of one worker, then a resume to the end.

What "the same losses" means: both runs see the same global batches (one input
pipeline, split into per-replica batches), the same noise (gan._noise draws the
global batch's z and each replica takes its rows) and batch norm over the global
batch (synchronised across replicas); only the summation order of the all-reduce
differs, so losses and weights agree to float32 rounding, except for the few weights
whose gradient cancels to ~0, where Adam's normalisation makes the rounding an update
error of up to ~2 lr (_adam_step_bound; the weight check allows for both).
"""

import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile

import numpy as np
import pytest

from conftest import REPO, Training, tiny
from dcgan_tf.errors import UserError

STEPS = 3


def _scalars(workdir, tag):
  """{step: value} of a TensorBoard scalar the StepLogger wrote."""
  import tensorflow as tf
  out = {}
  folder = os.path.join(workdir, "tensorboard")
  for name in os.listdir(folder):
    for event in tf.compat.v1.train.summary_iterator(os.path.join(folder, name)):
      for value in event.summary.value:
        if value.tag == tag:
          out[event.step] = float(tf.make_ndarray(value.tensor))
  return out


def _weights(workdir):
  import tensorflow as tf
  reader = tf.train.load_checkpoint(os.path.join(workdir, "checkpoints"))
  names = [n for n in reader.get_variable_to_shape_map()
           if n.startswith(("generator", "discriminator", "ema_generator"))
           and "OPTIMIZER_SLOT" not in n]
  return {n: reader.get_tensor(n) for n in names}


def _adam_step_bound(beta_1, beta_2, t):
  """The largest |update| / lr of Keras' Adam at step t, over every gradient sequence.

  update = lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps) with m = (1 - b1) *
  sum_j b1^j g_(t-j) and v = (1 - b2) * sum_j b2^j g_(t-j)^2; Cauchy-Schwarz on m's sum
  (b1^j = (b1 / sqrt(b2))^j * sqrt(b2)^j) gives |m| / sqrt(v) <= (1 - b1) / sqrt(1 - b2) *
  sqrt(sum_(j<t) (b1^2 / b2)^j), and eps only shrinks the update. 1, 1.05, 1.13 for the
  first three steps at beta_1 0.5, beta_2 0.999.
  """
  cauchy_schwarz = math.sqrt(sum((beta_1 ** 2 / beta_2) ** j for j in range(t)))
  return (math.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t) * (1 - beta_1) / math.sqrt(1 - beta_2)
          * cauchy_schwarz)


def _run_script(*args, timeout=400):
  env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2")
  return subprocess.run([sys.executable, os.path.abspath(__file__), *args], capture_output=True,
                        text=True, timeout=timeout, env=env, cwd=REPO)


@pytest.mark.heavy
def test_mirrored_two_replicas_match_one_device(tmp_path):
  result = _run_script("mirrored", str(tmp_path))
  assert result.returncode == 0, result.stderr[-3000:]
  one, two = tmp_path / "default", tmp_path / "mirrored"
  summary = json.loads(result.stdout.strip().splitlines()[-1])
  assert summary["replicas"] == {"default": 1, "mirrored": 2}
  # ADA's p: the same on both replicas, moved by the all-reduced r_t (0 here: down; replica
  # 0's own r_t of 1 would move it up). 0.5 - 2 steps of 16 / 500k in float32: ulps of 0.5.
  from dcgan_tf import augment
  expected = 0.5 - 2 * 16 / augment.ADA_IMAGES
  assert summary["augment_p"] == [pytest.approx(expected, rel=1e-6)] * 2
  for tag in ("d_loss", "g_loss", "d_real", "d_fake"):
    a, b = _scalars(str(one), tag), _scalars(str(two), tag)
    assert sorted(a) == list(range(1, STEPS + 1)) and sorted(b) == sorted(a), (tag, a, b)
    for step in a:
      # A global-batch mean of <= 32 positive terms (BCE, sigmoid): each summation order is
      # within 31 u (u = 2^-24) of the exact mean, no cancellation, so two orders agree to
      # 3.7e-6 relative; the logits it averages inherit ~1e-7 (measured) from batch
      # statistics and gradients reduced in another order, and the few weights Adam makes
      # outliers (below) have a gradient ~0: the loss is first-order blind to them. rel 1e-5
      # is 2.7x the reduction bound; abs 1e-6 only matters near 0.
      assert b[step] == pytest.approx(a[step], rel=1e-5, abs=1e-6), (tag, step, a, b)
  wa, wb = _weights(str(one)), _weights(str(two))
  assert wa and sorted(wa) == sorted(wb)
  # Weights: the same Adam updates of gradients summed in another order. Adam divides by
  # sqrt(v), so an update has its gradient's relative rounding error: small for the bulk,
  # unbounded where a gradient cancels to ~0 (step 1's update lr * g / (|g| + eps) may even
  # flip sign). Hence two checks:
  # (a) every trainable element: each run's update at step t is at most
  # _adam_step_bound(t) * lr, so the runs differ by at most twice their sum over the steps
  # (6.4 lr = 1.3e-3 here). Batch-norm moving statistics are no Adam update: (b) only.
  # (b) the bulk within float32 rounding: m / sqrt(v) is invariant to scaling the
  # gradients, so an update (<= 1.13 lr) is off by about its size times its gradient's
  # relative rounding error e, and 3 steps move a weight by ~3.4 lr e. atol 1e-6 is that
  # at e = 1.5e-3 = 2.5e4 u, while a sum of n <= 8e3 terms (D's first kernel: 2 x 16 images
  # x 16 x 16 positions) in another order is typically off by ~sqrt(n) u = 90 u times
  # sum(|terms|) / |sum|: only gradients cancelling a few hundredfold exceed it. rtol 1e-4
  # adds room for the larger weights. Those are rare: 0 or 1 of the 29,857 elements fail
  # (b) on AVX512 and AVX2 CPUs, 13 to 24 at a tolerance 100x tighter, so allowing 0.1%
  # (29) leaves a wide margin, while a real bug (replicas drawing the same z,
  # unsynchronised batch norm) moves almost every element.
  config = tiny(train_steps=STEPS)
  lr = {"generator": config.g_lr, "discriminator": config.d_lr}
  steps = {"generator": STEPS, "discriminator": STEPS * config.d_steps}
  outside, total = [], 0
  for name in sorted(wa):
    # The EMA G (updated inside the step, on each replica's copy) is a convex combination
    # of G's weights over the steps: within G's bound too.
    network = name.split("/")[0].replace("ema_generator", "generator")
    diff = np.abs(wb[name].astype(np.float64) - wa[name])
    if "/moving_" not in name:
      bound = 2 * lr[network] * sum(_adam_step_bound(config.beta_1, config.beta_2, t)
                                    for t in range(1, steps[network] + 1))
      assert diff.max() <= bound, (name, diff.max(), bound)
    close = np.isclose(wb[name], wa[name], rtol=1e-4, atol=1e-6)
    outside += [(name, int(i), float(diff.flat[i])) for i in np.flatnonzero(~close)]
    total += close.size
  assert len(outside) <= total // 1000, (len(outside), total, outside[:10])
  # Checkpoint and export under MirroredStrategy: the SavedModel loads and generates.
  import tensorflow as tf
  loaded = tf.saved_model.load(str(two / "saved_model"))
  images = loaded.signatures["serving_default"](z=tf.zeros([2, 16]))["images"]
  assert images.dtype == tf.uint8 and images.shape == (2, 32, 32, 1)


def _free_ports(n):
  socks = [socket.socket() for _ in range(n)]
  for s in socks:
    s.bind(("127.0.0.1", 0))
  ports = [s.getsockname()[1] for s in socks]
  for s in socks:
    s.close()
  return ports


class Cluster:
  """Two `python -m dcgan_tf.train --strategy=multiworker` workers on 127.0.0.1."""

  FLAGS = ["--dataset=digits", "--image_size=32", "--channels=1", "--gen_filters=8",
           "--disc_filters=8", "--latent_dim=16", "--batch_size=16", "--log_every=1",
           "--sample_every=1000", "--checkpoint_every=1000", "--num_grid_samples=4",
           "--shuffle_buffer=64", "--precision=float32", "--strategy=multiworker",
           "--conv_impl=keras", "--ema_stat_samples=256"]  # as conftest.tiny: less to build

  def __init__(self, tmp_path, workdir, train_steps):
    cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(2)]}
    self.workers, self.temps = [], []
    for index in range(2):
      temp = tempfile.mkdtemp(dir=tmp_path)  # where a worker's throwaway write_dir goes
      self.temps.append(temp)
      # CUDA_VISIBLE_DEVICES="": two workers on one host must not both claim its GPU's memory.
      env = dict(TMPDIR=temp, CUDA_VISIBLE_DEVICES="", TF_CONFIG=json.dumps(
          {"cluster": cluster, "task": {"type": "worker", "index": index}}))
      self.workers.append(Training(workdir, *self.FLAGS, f"--train_steps={train_steps}",
                                   env=env))

  def finish(self, timeout=300):
    """[(exit code, stderr)] of both workers; kills what is still running after `timeout`."""
    try:
      return [w.finish(timeout=timeout) for w in self.workers]
    finally:
      for w in self.workers:
        if w.proc.poll() is None:
          w.proc.kill()


def _interrupted_at(log):
  return int(re.search(r"Interrupted by SIGTERM at step (\d+) of 10000", log).group(1))


@pytest.mark.heavy
def test_multiworker_preemption_and_a_lost_worker(tmp_path):
  """kill -9 of worker 1: worker 0 fails with one line naming the fix, in bounded time.
  SIGTERM to worker 1 only: both stop at the same step, which the chief checkpointed; the
  rerun resumes there on both, trains, checkpoints and exports."""
  import tensorflow as tf
  workdir = tmp_path / "run"
  cluster = Cluster(tmp_path, workdir, 10_000)
  cluster.workers[0].wait_for(r"step 3/10000")
  cluster.workers[1].proc.kill()
  (code, log), _ = cluster.finish(timeout=180)  # heartbeats notice within ~10 s
  assert code == 1, log[-3000:]
  assert "Traceback" not in log, log[-3000:]
  line = log.strip().splitlines()[-1]
  assert line.startswith("error: a worker of the cluster stopped"), line
  assert "rerun the same command on every worker" in line

  cluster = Cluster(tmp_path, workdir, 10_000)  # resumes from ckpt-0, then is preempted
  cluster.workers[1].wait_for(r"step 3/10000")
  cluster.workers[1].proc.send_signal(signal.SIGTERM)
  results = cluster.finish()
  for code, log in results:
    assert code == 128 + signal.SIGTERM, log[-3000:]
  steps = {_interrupted_at(log) for _, log in results}
  assert len(steps) == 1, steps  # every worker stopped at one step
  step = steps.pop()
  assert step >= 3
  chief = tf.train.load_checkpoint(str(workdir / "checkpoints" / f"ckpt-{step}"))
  assert chief.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE") == step
  assert not (workdir / "saved_model").exists()  # unfinished: no export

  cluster = Cluster(tmp_path, workdir, step + 2)
  results = cluster.finish()
  for code, log in results:
    assert code == 0, log[-3000:]
    assert f"at step {step} of {step + 2}" in log  # "Resumed from ... at step N of M"
  assert re.search(rf'Done: .*"step": {step + 2},', results[0][1])
  checkpoints = sorted(os.listdir(workdir / "checkpoints"))
  assert f"ckpt-{step + 2}.index" in checkpoints and (workdir / "config.json").is_file()
  loaded = tf.saved_model.load(str(workdir / "saved_model"))
  images = loaded.signatures["serving_default"](z=tf.zeros([2, 16]))["images"]
  assert images.shape == (2, 32, 32, 1)
  # Only the chief wrote the workdir; worker 1's throwaway folders are gone.
  assert not os.listdir(cluster.temps[1]), os.listdir(cluster.temps[1])
  leftovers = [f for f in os.listdir(workdir) if "worker" in f or f.startswith("dcgan_")]
  assert not leftovers


def test_who_writes(tmp_path):
  import tensorflow as tf
  from dcgan_tf.train import distribute

  class Resolver:
    def __init__(self, task_type, task_id, cluster):
      self.task_type, self.task_id, self._cluster = task_type, task_id, cluster

    def cluster_spec(self):
      return tf.train.ClusterSpec(self._cluster)

  class Strategy:
    def __init__(self, *task):
      self.cluster_resolver = Resolver(*task) if task else None

  workers = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
  with_chief = dict(workers, chief=["127.0.0.1:3"])
  assert distribute.is_chief(Strategy())  # no cluster
  assert distribute.is_chief(Strategy("worker", 0, workers))
  assert not distribute.is_chief(Strategy("worker", 1, workers))
  assert not distribute.is_chief(Strategy("worker", 0, with_chief))
  assert distribute.is_chief(Strategy("chief", 0, with_chief))
  assert distribute.write_dir(Strategy("worker", 0, workers), str(tmp_path)) == str(tmp_path)
  temp = distribute.write_dir(Strategy("worker", 1, workers), str(tmp_path))
  assert os.path.isdir(temp) and not temp.startswith(str(tmp_path))
  distribute.cleanup_write_dir(temp, str(tmp_path))
  assert not os.path.exists(temp) and tmp_path.is_dir()


def test_global_batch_must_split_evenly():
  import tensorflow as tf
  from dcgan_tf.train import distribute

  class TwoReplicas:
    num_replicas_in_sync = 2

  with pytest.raises(UserError, match="^batch_size: 15 is not divisible by the 2 replicas"):
    distribute.distributed_dataset(TwoReplicas(), None, 15)
  dataset, info = distribute.distributed_dataset(
      tf.distribute.get_strategy(), lambda ctx: (tf.data.Dataset.range(4).batch(2), "info"), 2)
  assert info == "info" and [list(b.numpy()) for b in dataset] == [[0, 1], [2, 3]]


# ---------------------------------------------------------------- subprocess

def _mirrored_main(outdir):
  """One device, then MirroredStrategy on two logical CPUs, on the same tiny run."""
  import tensorflow as tf
  # Two replicas on any machine: the CPU split in two, GPUs hidden (a one-GPU host would
  # otherwise mirror over its single GPU).
  tf.config.set_visible_devices([], "GPU")
  cpu = tf.config.list_physical_devices("CPU")[0]
  tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
  from dcgan_tf.train import distribute, loop
  replicas = {}
  for name in ("default", "mirrored"):
    # The CPU's sub-pixel convolutions (their own gradients) under replicas: the one
    # strategy test with them (the rest train Keras' convolutions, conftest.tiny).
    config = tiny(strategy=name, train_steps=STEPS, log_every=1, export=name == "mirrored",
                  conv_impl="subpixel")
    replicas[name] = distribute.get_strategy(name).num_replicas_in_sync
    loop.train(config, os.path.join(outdir, name))
  print(json.dumps({"replicas": replicas, "augment_p": _adaptive_p_per_replica()}))


def _adaptive_p_per_replica():
  """ADA under two replicas whose D is sure of its real images on replica 0 only (logits
  +1 there, -1 on replica 1): r_t over the global batch is 0 < 0.6, so p must go down on
  both. Returns each replica's p after 2 steps from 0.5."""
  import tensorflow as tf
  from dcgan_tf import data
  from dcgan_tf.train import distribute, setup
  strategy = distribute.get_strategy("mirrored")
  config = tiny(strategy="mirrored", augment="translation", augment_p="auto")
  gan, _, _ = setup.make_gan(config, strategy)
  gan.augment_p.assign(0.5)
  call = gan.discriminator.call

  def stub(images, labels=None, training=False):
    replica = tf.distribute.get_replica_context().replica_id_in_sync_group
    return call(images, labels, training=training) * 0.0 + tf.where(replica == 0, 1.0, -1.0)

  gan.discriminator.call = stub
  from dcgan_tf.train import ada, callbacks
  actions = callbacks.RunActions(gan, [ada.AdaptAugment(gan)])  # after each of the 2 steps
  gan.fit(data.make_dataset(config)[0], epochs=1, steps_per_epoch=2, verbose=0,
          callbacks=[actions])
  return [float(v.numpy()) for v in strategy.experimental_local_results(gan.augment_p)]


if __name__ == "__main__":
  if sys.argv[1] == "mirrored":
    _mirrored_main(sys.argv[2])
