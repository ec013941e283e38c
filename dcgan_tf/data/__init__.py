"""tf.data input pipelines: every dataset ends as batches of (images, labels).

images: float32 [B, S, S, C] in [-1, 1] (NHWC); labels: int32 [B] (0 when the
dataset has none). Sources (sources.py, files.py) give uint8 images of any size
with 1-4 channels or encoded files; image_ops.py converts channels, optionally
crops the center (CelebA), resizes the shorter side to S, center-crops S x S and
scales to [-1, 1], as the DCGAN paper did; pipeline.py assembles, caches,
shuffles, augments and batches.

Public API: make_dataset(config, batch_size, seed, repeat, input_context, sources) ->
(dataset, source), data_seed(seed, step, rollbacks, pipeline) (a training run's order
seed) and pipeline_throughput(config, num_batches, batch_size); a Source alone:
sources.get_source(config, shard).
"""

from dcgan_tf.data.pipeline import data_seed, make_dataset, pipeline_throughput

__all__ = ["data_seed", "make_dataset", "pipeline_throughput"]
