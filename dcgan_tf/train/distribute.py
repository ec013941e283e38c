"""tf.distribute: the strategy, per-worker input pipelines, and which worker writes.

Strategies (--strategy):
  default      one device: the CPU (TensorFlow's default strategy), or the first GPU
               (OneDeviceStrategy, whose input pipeline prefetches batches onto the GPU).
  mirrored     one machine, one replica per GPU; without GPUs, one per logical CPU
               device (tests split the CPU into two with set_logical_device_configuration).
  multiworker  MultiWorkerMirroredStrategy over the TF_CONFIG cluster (one process per
               machine); must be created before TensorFlow runs any op.
  tpu          TPUStrategy over the TPU the resolver finds.
  auto         mirrored with more than one GPU, else default.
Every strategy gets the same global batch (--batch_size), split evenly over the
replicas; losses are sums over the local batch divided by the global batch
(losses.py), so the summed gradients equal one device's on the whole batch.

Under multiworker every worker runs the same program, including checkpoint saves
and the export (they read variables collectively), but only the chief writes the
run's workdir: the others write to a throwaway folder (write_dir), as in
TensorFlow's multi-worker guide.
"""

import os
import shutil
import tempfile

import tensorflow as tf
from absl import logging

from dcgan_tf.errors import UserError


# ------------------------------------------------------------------ strategies

def get_strategy(name: str) -> tf.distribute.Strategy:
  """The strategy for --strategy (see the module docstring). Call it before TensorFlow
  initialises its devices: `default` on a machine with several GPUs hides all but the
  first, which would otherwise each get a TensorFlow context (and memory) for nothing."""
  # Visible devices, not logical ones: listing logical devices initialises the runtime.
  gpus = tf.config.get_visible_devices("GPU")
  if name == "auto":
    name = "mirrored" if len(gpus) > 1 else "default"
  if name == "default":
    if len(gpus) > 1:
      use_one_gpu(gpus)
    strategy = one_device(gpus)
  elif name == "mirrored":
    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
    strategy = tf.distribute.MirroredStrategy(devices)
  elif name == "multiworker":
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
  elif name == "tpu":
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    strategy = tf.distribute.TPUStrategy(resolver)
  else:
    raise UserError(f"unknown strategy {name!r}; valid: auto, default, mirrored, multiworker, "
                    "tpu", "strategy")
  return strategy


def one_device(gpus) -> tf.distribute.Strategy:
  """The strategy of one device. On a GPU, OneDeviceStrategy: its distributed dataset
  copies each batch to the GPU ahead of the step (tf.distribute's fetch-to-device, a
  prefetch of the next batch while the current step runs). TensorFlow's default strategy
  would hand fit host tensors, copied inside each step, on its critical path. On the CPU,
  the default strategy: there is nothing to copy."""
  if not gpus:
    return tf.distribute.get_strategy()
  logging.info("One GPU: OneDeviceStrategy on /gpu:0, input batches prefetched to it")
  return tf.distribute.OneDeviceStrategy("/gpu:0")


def use_one_gpu(gpus) -> None:
  """Makes only gpus[0] visible to this process (logged); a warning if it is too late."""
  try:
    tf.config.set_visible_devices(gpus[:1], "GPU")
  except RuntimeError:  # TensorFlow already initialised its devices: all stay visible
    logging.warning("--strategy=default: %d GPUs are visible and TensorFlow is already "
                    "initialised; training on the first (set CUDA_VISIBLE_DEVICES to hide the "
                    "others)", len(gpus))
    return
  logging.info("--strategy=default: training on %s only, %d other GPU(s) left free "
               "(--strategy=mirrored trains on all)", gpus[0].name, len(gpus) - 1)


def distributed_dataset(strategy, make_dataset, global_batch: int):
  """(dataset for fit, what make_dataset returned second) with per-worker input pipelines.

  make_dataset(input_context) -> (dataset, info): a pipeline that reads only its
  shard and batches per replica (data.make_dataset does both). The strategy calls
  it once per input pipeline (once per worker), so every worker reads its own
  files; `info` is the first call's (the Source record).
  """
  replicas = strategy.num_replicas_in_sync
  if global_batch % replicas:
    raise UserError(f"{global_batch} is not divisible by the {replicas} replicas of the "
                    f"strategy; use a multiple of {replicas}", "batch_size")
  infos = []

  def dataset_fn(input_context):
    dataset, info = make_dataset(input_context)
    infos.append(info)
    return dataset

  dataset = strategy.distribute_datasets_from_function(dataset_fn)
  return dataset, infos[0]


def input_shard(strategy):
  """(num_input_pipelines, input_pipeline_id) of this process's input pipeline, as
  distribute_datasets_from_function numbers them: one pipeline per worker of a cluster
  (the chief first, then the workers in task order), else one."""
  if not is_multi_worker(strategy):
    return (1, 0)
  resolver = strategy.cluster_resolver
  spec = resolver.cluster_spec().as_dict()
  chiefs = len(spec.get("chief", []))
  index = 0 if resolver.task_type == "chief" else chiefs + (resolver.task_id or 0)
  return (chiefs + len(spec.get("worker", [])), index)


# ------------------------------------------------------------------ who writes

def is_multi_worker(strategy) -> bool:
  """True when `strategy` spans a cluster of processes (TF_CONFIG with tasks)."""
  resolver = getattr(strategy, "cluster_resolver", None)
  return bool(resolver is not None and resolver.cluster_spec().jobs)


def is_chief(strategy) -> bool:
  """True unless this process is a non-chief task of a multi-worker cluster.

  The chief is task "chief", or worker 0 when the cluster has no "chief" task
  (TF_CONFIG's two conventions). No cluster (no TF_CONFIG): chief.
  """
  resolver = getattr(strategy, "cluster_resolver", None)
  task_type = getattr(resolver, "task_type", None)
  if task_type is None or task_type == "chief":
    return True
  has_chief_task = "chief" in resolver.cluster_spec().as_dict()
  return task_type == "worker" and (resolver.task_id or 0) == 0 and not has_chief_task


def write_dir(strategy, workdir: str) -> str:
  """Where this process writes: `workdir` on the chief, a fresh temporary folder on others.

  Non-chief workers still save checkpoints and exports (those read variables in
  collective ops every worker must join), just to a folder nobody reads; delete it
  with cleanup_write_dir at the end.
  """
  if is_chief(strategy):
    return workdir
  resolver = strategy.cluster_resolver
  return tempfile.mkdtemp(prefix=f"dcgan_{resolver.task_type}{resolver.task_id}_")


def cleanup_write_dir(path: str, workdir: str) -> None:
  """Deletes a non-chief's temporary write_dir (never the workdir itself)."""
  if os.path.abspath(path) != os.path.abspath(workdir):
    shutil.rmtree(path, ignore_errors=True)
