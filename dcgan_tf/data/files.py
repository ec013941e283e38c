"""Sources read from local files: image folders (`folder:PATH`) and LMDB exports (LSUN).

Both yield encoded images that the pipeline decodes in parallel with
`decode_image_bytes`; files that fail to decode are skipped and counted.
"""

import os
from typing import List, Optional, Tuple

import numpy as np
import tensorflow as tf
from absl import logging

from dcgan_tf.data.base import NO_SHARD, Shard, Source, shard_dataset, shard_size
from dcgan_tf.data.image_ops import decode_image_bytes
from dcgan_tf.errors import UserError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
# Files decoded eagerly before training to catch a folder where nothing decodes.
PROBE_FILES = 64
# Class name of images lying directly in the root of a labelled folder.
TOP_LEVEL_CLASS = "."
# The field every error here names: the folders and databases read are the dataset's.
DATASET = "dataset"


def _walk_error(err):
  """os.walk's onerror: a sub-folder it cannot list."""
  raise UserError(f"cannot read folder {err.filename!r}: {err.strerror}", DATASET) from None


def list_image_files(root: str) -> Tuple[List[str], List[str], int]:
  """Image files under `root`, recursively and sorted, and their first-level folder.

  Returns (paths, groups, ignored): groups[i] is the first-level sub-folder of
  paths[i] relative to root (TOP_LEVEL_CLASS for files in root itself); ignored
  counts files with other extensions. Hidden files and folders (".name") are
  skipped. Raises UserError naming the dataset field and the path.
  """
  if not os.path.exists(root):
    raise UserError(f"folder {root!r} does not exist", DATASET)
  if not os.path.isdir(root):
    raise UserError(f"{root!r} is not a folder", DATASET)
  if not os.access(root, os.R_OK | os.X_OK):
    raise UserError(f"cannot read folder {root!r}: permission denied", DATASET)
  paths, groups, ignored = [], [], 0
  for folder, dirs, files in os.walk(root, onerror=_walk_error, followlinks=True):
    dirs[:] = sorted(d for d in dirs if not d.startswith("."))
    rel = os.path.relpath(folder, root)
    group = TOP_LEVEL_CLASS if rel == "." else rel.split(os.sep)[0]
    for name in sorted(files):
      if name.startswith("."):
        continue
      if name.lower().endswith(IMAGE_EXTENSIONS):
        paths.append(os.path.join(folder, name))
        groups.append(group)
      else:
        ignored += 1
  if not paths:
    raise UserError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) under {root!r}"
                    + (f" ({ignored} other files)" if ignored else ""), DATASET)
  return paths, groups, ignored


def _probe(read, items, names, where: str) -> None:
  """Decodes items eagerly until one works; UserError when none of the first few does."""
  first_error = None
  for item, name in zip(items[:PROBE_FILES], names):
    try:
      decode_image_bytes(read(item))
      return
    except (tf.errors.OpError, OSError) as e:
      message = getattr(e, "message", None) or str(e)
      first_error = first_error or f"{name}: {message.strip().splitlines()[-1][:200]}"
  count = min(len(items), PROBE_FILES)
  raise UserError(f"none of the first {count} images in {where} could be decoded "
                  f"(first error: {first_error})", DATASET)


def folder_source(root: str, name: str, seed: Optional[int], shard: Shard = NO_SHARD,
                  labelled: bool = True) -> Source:
  """Images under `root`; labels from first-level sub-folders when there are 2 or more.
  name: the Source's name (data.base.Source).

  Files are shuffled (seeded, reshuffled each pass) before decoding, so a
  pipeline without a cache still mixes the whole folder; seed None: in listing order.
  """
  root = os.path.abspath(os.path.expanduser(root))
  paths, groups, ignored = list_image_files(root)
  _probe(tf.io.read_file, paths, paths, root)
  class_names = tuple(sorted(set(groups))) if labelled else ()
  if len(class_names) < 2:  # one group carries no label information
    class_names = ()
  index = {name: i for i, name in enumerate(class_names)}
  labels = np.array([index.get(g, 0) for g in groups], np.int32)
  ds = tf.data.Dataset.from_tensor_slices((paths, labels))
  ds = shard_dataset(ds, shard)
  count = shard_size(len(paths), shard)
  if seed is not None:
    ds = ds.shuffle(max(count, 1), seed=seed, reshuffle_each_iteration=True)
  shown = ", ".join(class_names[:10]) + (", ..." if len(class_names) > 10 else "")
  logging.info("%s: %d image files, %s; %d files with other extensions ignored", name, len(paths),
               f"{len(class_names)} classes ({shown})" if class_names else "unlabelled", ignored)
  return Source(ds, len(paths), len(class_names), name,
                decode=lambda path: decode_image_bytes(tf.io.read_file(path)),
                class_names=class_names, shard_examples=count)


# Open LMDB environments by real path: lmdb refuses to open one twice in a process.
_LMDB_ENVS = {}


def find_lmdb(folder: str) -> bool:
  return os.path.isfile(os.path.join(folder, "data.mdb"))


def lmdb_source(path: str, name: str, shard: Shard = NO_SHARD) -> Source:
  """Values of an LMDB database (LSUN's export: key = image id, value = WebP/JPEG bytes).
  name: the Source's name (data.base.Source)."""
  try:
    import lmdb  # optional dependency, only for LSUN's LMDB files
  except ImportError:
    raise UserError(f"reading the LMDB database {path!r} needs the `lmdb` package: pip "
                    "install lmdb (or export the images to a folder and use "
                    "dataset=folder:PATH)", DATASET) from None
  key = os.path.realpath(path)
  if key not in _LMDB_ENVS:
    try:
      _LMDB_ENVS[key] = lmdb.open(path, readonly=True, lock=False, readahead=False, max_readers=64)
    except lmdb.Error as e:
      raise UserError(f"cannot open LMDB database {path!r}: {e}", DATASET) from None
  env = _LMDB_ENVS[key]
  total = env.stat()["entries"]
  if not total:
    raise UserError(f"LMDB database {path!r} is empty", DATASET)
  num, index = shard

  def values():
    with env.begin(write=False) as txn:
      for i, value in enumerate(txn.cursor().iternext(keys=False, values=True)):
        if i % num == index:  # shard before decoding
          yield bytes(value), np.int32(0)

  with env.begin(write=False) as txn:
    firsts = [bytes(v) for _, v in zip(range(PROBE_FILES), txn.cursor().iternext(keys=False))]
  _probe(lambda v: v, firsts, [f"entry {i}" for i in range(len(firsts))], path)
  ds = tf.data.Dataset.from_generator(values, output_signature=(
      tf.TensorSpec([], tf.string), tf.TensorSpec([], tf.int32)))
  logging.info("%s: %d images in LMDB database %s", name, total, path)
  return Source(ds, total, 0, name, decode=decode_image_bytes, unit="LMDB records",
                shard_examples=shard_size(total, shard))
