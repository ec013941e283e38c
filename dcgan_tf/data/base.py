"""What every data source gives the pipeline: the Source record and sharding."""

import dataclasses
from typing import Callable, Dict, Optional, Tuple

import tensorflow as tf
from absl import logging

# (num_input_pipelines, input_pipeline_id): which part of the data this pipeline reads.
Shard = Tuple[int, int]
NO_SHARD: Shard = (1, 0)


@dataclasses.dataclass
class Source:
  """An unbatched dataset of (raw, int32 label) plus facts about it.

  raw is a uint8 image [H, W, C] (C in 1..4, any H, W), or, when `decode` is set,
  what `decode` turns into one (a file path, encoded bytes). Decoding may fail;
  the pipeline then skips the element and reports the count via `report_pass`.
  """
  dataset: tf.data.Dataset
  num_examples: int  # whole dataset (all shards); -1 when unknown
  num_classes: int  # 0 when unlabelled (labels are then all 0)
  name: str  # as the user wrote --dataset, for messages
  decode: Optional[Callable] = None  # raw -> uint8 [H, W, 3]; None: raw is the image
  class_names: Tuple[str, ...] = ()
  shard_examples: int = -1  # examples this input pipeline reads; -1 when unknown
  unit: str = "files"  # what an encoded element is, for messages ("files", "LMDB records")
  stats: Dict[str, int] = dataclasses.field(default_factory=dict)  # decoded/skipped/passes

  def report_pass(self, decoded: int) -> None:
    """Called when one pass over a decoding source ended with `decoded` good images."""
    skipped = self.shard_examples - decoded
    first = not self.stats
    self.stats.update(decoded=decoded, skipped=skipped, passes=self.stats.get("passes", 0) + 1)
    if not first:
      return
    if skipped:
      logging.warning("%s: skipped %d of %d %s that could not be decoded (empty, truncated "
                      "or not an image); training on the other %d", self.name, skipped,
                      self.shard_examples, self.unit, decoded)
    else:
      logging.info("%s: all %d %s decoded", self.name, decoded, self.unit)


def shard_dataset(ds: tf.data.Dataset, shard: Shard) -> tf.data.Dataset:
  """Keeps every n-th element starting at the pipeline id (before any decoding)."""
  num, index = shard
  return ds.shard(num, index) if num > 1 else ds


def shard_size(total: int, shard: Shard) -> int:
  """Elements `shard_dataset` keeps out of `total` (-1 stays unknown)."""
  num, index = shard
  if total < 0:
    return -1
  return len(range(index, total, num))
