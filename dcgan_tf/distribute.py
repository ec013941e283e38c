"""Choosing the tf.distribute strategy and the mixed-precision policy for the hardware."""

import keras
import tensorflow as tf
from absl import logging


def resolve_precision(precision: str) -> str:
  """auto -> mixed_float16 on a GPU, float32 otherwise; other values pass through."""
  if precision != "auto":
    return precision
  return "mixed_float16" if tf.config.list_physical_devices("GPU") else "float32"


def set_precision(precision: str) -> str:
  policy = resolve_precision(precision)
  keras.mixed_precision.set_dtype_policy(policy)
  return policy


def get_strategy(name: str) -> tf.distribute.Strategy:
  """auto: MirroredStrategy over >1 GPU, else the default (one device) strategy."""
  if name == "auto":
    name = "mirrored" if len(tf.config.list_logical_devices("GPU")) > 1 else "default"
  if name == "default":
    strategy = tf.distribute.get_strategy()
  elif name == "mirrored":
    strategy = tf.distribute.MirroredStrategy()
  elif name == "multiworker":
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
  elif name == "tpu":
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    strategy = tf.distribute.TPUStrategy(resolver)
  else:
    raise ValueError(f"--strategy: unknown strategy {name!r}")
  logging.info("Strategy %s with %d replica(s)", type(strategy).__name__,
               strategy.num_replicas_in_sync)
  return strategy
