"""Source -> batches of (images float32 [B, S, S, C] in [-1, 1], labels int32 [B]).

Order of stages (each map runs in parallel, AUTOTUNE):
  read (sharded per input pipeline) -> decode + prepare to uint8 [S, S, C]
  -> skip and count undecodable files -> cache (memory or file, uint8)
  -> repeat -> shuffle -> batch (drop_remainder: static shapes)
  -> scale to [-1, 1] (+ optional flips / MNIST augmentation, per batch) -> prefetch.
Caching the uint8 output of the deterministic stages means decoding happens once;
randomness (order, augmentation) comes after the cache, seeded by one stream seed: a
training run's "data_order" stream of --seed (data_seed; seeds.py lists every stream).
"""

import glob
import os
import re
import time
from typing import Optional

import tensorflow as tf
from absl import logging

from dcgan_tf import seeds
from dcgan_tf.config import Config
from dcgan_tf.data.base import NO_SHARD, Shard, Source
from dcgan_tf.data.image_ops import prepare, random_geometry
from dcgan_tf.images import scale_to_unit
from dcgan_tf.data.sources import get_source
from dcgan_tf.errors import UserError

AUTOTUNE = tf.data.AUTOTUNE
# A memory cache larger than this gets a warning suggesting --cache=PATH or none.
MEMORY_CACHE_WARN_BYTES = 8 << 30


def count_decoded(ds: tf.data.Dataset, report, image_shape) -> tf.data.Dataset:
  """Passes (image, label) elements through; calls report(n) when a pass over ds ends.

  n is the number of elements of that pass. A sentinel element appended to each
  pass carries the running count (a sequential scan, no variables) to a
  py_function, so the only Python call is one per pass.
  """
  sentinel = tf.data.Dataset.from_tensors(
      (tf.zeros(image_shape, tf.uint8), tf.constant(0, tf.int32), tf.constant(True)))
  flagged = ds.map(lambda x, y: (x, y, tf.constant(False))).concatenate(sentinel)

  def count(n, element):
    x, y, last = element
    n += tf.cast(tf.logical_not(last), tf.int64)
    return n, (x, y, last, n)

  def report_false(n):
    report(int(n))
    return False

  def keep(x, y, last, n):
    return tf.cond(last, lambda: tf.reshape(tf.py_function(report_false, [n], tf.bool), []),
                   lambda: tf.constant(True))

  return flagged.scan(tf.constant(0, tf.int64), count).filter(keep).map(
      lambda x, y, last, n: (x, y))


def cache_path(config: Config, shard: Shard) -> str:
  """File prefix of a --cache=PATH cache; names what it holds, so another size or crop
  never reads it. PATH may be a folder (files go inside) or a prefix."""
  slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{config.dataset}_{config.split}").strip("_")[-80:]
  name = f"{slug}_{config.image_size}px_{config.channels}ch"
  name += f"_crop{config.center_crop}" if config.center_crop else ""
  name += f"_shard{shard[1]}of{shard[0]}" if shard[0] > 1 else ""
  prefix = os.path.expanduser(config.cache)
  if os.path.isdir(prefix) or prefix.endswith(os.sep):
    return os.path.join(prefix, name)
  return f"{prefix}.{name}"


def _cache(ds: tf.data.Dataset, config: Config, source: Source, shard: Shard) -> tf.data.Dataset:
  mode = config.cache
  if mode == "none":
    return ds
  if mode == "memory":
    size = source.shard_examples * config.image_size ** 2 * config.channels
    if size > MEMORY_CACHE_WARN_BYTES:
      logging.warning("%s: caching %d images in memory needs ~%.1f GiB; consider "
                      "--cache=PATH (a file) or --cache=none", source.name,
                      source.shard_examples, size / 2 ** 30)
    return ds.cache()
  path = cache_path(config, shard)
  folder = os.path.dirname(os.path.abspath(path))
  if not os.path.isdir(folder):
    raise UserError(f"folder {folder!r} does not exist (valid: memory, none, or a path prefix "
                    "in an existing folder)", "cache")
  locks = glob.glob(glob.escape(path) + "_[0-9]*.lockfile")  # tf.data's PATH_0.lockfile
  if locks:
    raise UserError(f"{locks[0]} exists: another run is writing this cache, or one was "
                    "interrupted; if no run is writing it, delete that file", "cache")
  if os.path.exists(path + ".index"):
    logging.info("%s: reading prepared images from the cache %s*", source.name, path)
  else:
    logging.info("%s: writing prepared images to the cache %s* during the first pass",
                 source.name, path)
  return ds.cache(path)


def data_seed(seed: int, step: int = 0, rollbacks: int = 0, pipeline: int = 0) -> int:
  """Shuffle and augmentation seed, in [0, 2**31), of training input pipeline `pipeline`
  (its input_pipeline_id; one per worker) of a run seeded with `seed` (--seed), started at
  generator step `step` after `rollbacks` rollbacks in this process.

  A fresh run (step 0, no rollback) is a pure function of --seed. A resumed run, or one
  rolled back after a non-finite step, reseeds: otherwise it would replay the run's first
  batches (or the batches that led to the NaN). Deterministic, so rerunning a resume sees
  the same batches.
  """
  return seeds.derive(seed, "data_order", step, rollbacks, pipeline)


def build_pipeline(source: Source, config: Config, batch_size: int, seed: int,
                   repeat: bool = True, shard: Shard = NO_SHARD,
                   uint8: bool = False) -> tf.data.Dataset:
  """Source -> prepared, counted, cached, shuffled, augmented, batched, prefetched.

  uint8: batches stay uint8 [0, 255] (the train step scales them on the device: 4x fewer
  bytes cross to it) unless flips or the MNIST augmentation need float images first.
  """
  size, channels, crop = config.image_size, config.channels, config.center_crop
  decode = source.decode

  def decode_prepare(raw, label):
    image = decode(raw) if decode is not None else raw
    return prepare(image, size, channels, crop), label

  ds = source.dataset.map(decode_prepare, num_parallel_calls=AUTOTUNE)
  if decode is not None:  # files may be corrupt: skip them, and say how many
    ds = count_decoded(ds.ignore_errors(), source.report_pass, [size, size, channels])
  ds = _cache(ds, config, source, shard)
  if repeat:
    ds = ds.repeat()
  # A buffer larger than the data would only hold repeated copies and delay the first
  # batch by several passes: cap it at the (shard's) size when that is known.
  buffer = config.shuffle_buffer
  if source.shard_examples > 0:
    buffer = min(buffer, source.shard_examples)
  # tf.data also mixes in TF's global seed: the order is a function of `seed` only while the
  # process's global seed stays the run's (train/setup.py sets it from --seed).
  ds = ds.shuffle(buffer, seed=seed)
  # Scaling and augmentation run on whole batches: per-element maps cost ~10x more.
  ds = ds.batch(batch_size, drop_remainder=True, num_parallel_calls=AUTOTUNE)
  flip, mnist = config.random_flip, config.mnist_augment
  if flip or mnist:
    # Stateless augmentation, seed pair [seed, batch index] per batch: a function of `seed`
    # alone (Dataset.random would mix in TF's global seed, which evaluate does not set).
    pairs = tf.data.Dataset.counter().map(lambda i: tf.stack([tf.constant(seed, tf.int64), i]))
    ds = tf.data.Dataset.zip(ds, pairs).map(
        lambda xy, s: (random_geometry(scale_to_unit(xy[0]), s, flip=flip, mnist=mnist), xy[1]),
        num_parallel_calls=AUTOTUNE)
  elif not uint8:
    ds = ds.map(lambda x, y: (scale_to_unit(x), y), num_parallel_calls=AUTOTUNE)
  return ds.prefetch(AUTOTUNE)


def make_dataset(config: Config, batch_size: Optional[int] = None, seed: Optional[int] = None,
                 repeat: bool = True,
                 input_context: Optional[tf.distribute.InputContext] = None,
                 uint8: bool = False, sources: Optional[dict] = None):
  """Returns (batched tf.data.Dataset of (images, labels), Source).

  sources: a {shard: Source} cache, filled here: a caller that builds pipelines again
  (another shuffle seed) reuses each shard's Source instead of listing, probing and
  decompressing its files again.

  Images float32 [B, S, S, C] in [-1, 1]; with uint8=True (training) uint8 [0, 255]
  where no float augmentation runs in the pipeline (see build_pipeline).

  batch_size: the global batch size (default config.batch_size). seed: of the order and
  augmentation, in [0, 2**31) (a stream seed, seeds.py); None: a fresh training run's,
  data_seed(config.seed) of this input pipeline. With an input_context (from
  strategy.distribute_datasets_from_function) this pipeline reads only its shard of the
  files/examples and batches per replica: input_context.get_per_replica_batch_size(batch_size).
  source.num_examples is always the whole dataset's size.
  """
  batch = batch_size or config.batch_size
  pipeline = input_context.input_pipeline_id if input_context is not None else 0
  seed = data_seed(config.seed, pipeline=pipeline) if seed is None else seed
  shard = NO_SHARD
  if input_context is not None:
    shard = (input_context.num_input_pipelines, input_context.input_pipeline_id)
    replicas = input_context.num_replicas_in_sync
    if batch % replicas:
      raise UserError(f"{batch} is not divisible by the {replicas} replicas", "batch_size")
    batch = input_context.get_per_replica_batch_size(batch)
  sources = {} if sources is None else sources
  if shard not in sources:
    sources[shard] = get_source(config, shard)
  source = sources[shard]
  ds = build_pipeline(source, config, batch, seed, repeat=repeat, shard=shard, uint8=uint8)
  return ds, source


def pipeline_throughput(config: Config, num_batches: int = 50, batch_size: Optional[int] = None,
                        warmup_batches: Optional[int] = None, uint8: bool = True) -> dict:
  """Images/s of the input pipeline alone (no model), after `warmup_batches` batches.

  The warm-up (default: num_batches // 5, at least 2) fills the shuffle buffer and
  lets AUTOTUNE settle. With cache=memory and a dataset smaller than the batches
  read, later passes come from the cache: compare with cache=none for the
  decoding rate.
  """
  batch = batch_size or config.batch_size
  warmup = max(2, num_batches // 5) if warmup_batches is None else warmup_batches
  t0 = time.perf_counter()
  ds, source = make_dataset(config, batch_size=batch, uint8=uint8)  # uint8: as training reads it
  iterator = iter(ds)
  next(iterator)
  first_batch_s = time.perf_counter() - t0
  for _ in range(max(warmup - 1, 0)):
    next(iterator)
  t1 = time.perf_counter()
  for _ in range(num_batches):
    images, _ = next(iterator)
  seconds = time.perf_counter() - t1
  result = dict(images_per_s=num_batches * batch / max(seconds, 1e-9),
                batches_per_s=num_batches / max(seconds, 1e-9), seconds=seconds,
                first_batch_s=first_batch_s, num_batches=num_batches, warmup_batches=warmup,
                batch_size=batch, image_shape=list(images.shape[1:]), dtype=images.dtype.name,
                dataset=config.dataset,
                cache=config.cache, num_examples=source.num_examples)
  result.update({f"files_{k}": v for k, v in source.stats.items()})
  return result
