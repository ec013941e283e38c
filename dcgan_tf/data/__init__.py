"""tf.data input pipelines: every dataset ends as batches of (images, labels).

images: float32 [B, S, S, C] in [-1, 1] (NHWC); labels: int32 [B] (0 when the
dataset has none). Sources (sources.py, files.py) give uint8 images of any size
with 1-4 channels or encoded files; image_ops.py converts channels, optionally
crops the center (CelebA), resizes the shorter side to S, center-crops S x S and
scales to [-1, 1], as the DCGAN paper did; pipeline.py assembles, caches,
shuffles, augments and batches.

Public API: make_dataset(config, batch_size, seed, repeat, input_context) ->
(dataset, source) and pipeline_throughput(config, num_batches, batch_size).
"""

import tensorflow as tf

from dcgan_tf.data.base import Source
from dcgan_tf.data.files import IMAGE_EXTENSIONS, folder_source, list_image_files, lmdb_source
from dcgan_tf.data.pipeline import (build_pipeline, cache_path, count_decoded, make_dataset,
                                    pipeline_throughput)
from dcgan_tf.data.image_ops import (augment, center_crop, decode_image_bytes, prepare,
                                      preprocess, resize_center_crop, rotate, rotate_shift,
                                      scale_to_unit, to_channels, to_uint8)
from dcgan_tf.data.sources import (DEBIAN_DATASETS, SOURCES, TFDS_NAMES, digits_source,
                                   get_source, idx_source, known_datasets, read_idx_gz,
                                   tfds_source)

AUTOTUNE = tf.data.AUTOTUNE
