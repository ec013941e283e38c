"""Every experiment in configs/ trains for two steps on tiny data; one config per network
shape (variant, image size, channels) also exports its generator.

Each config keeps what defines its architecture (variant, image_size, channels,
num_classes, embedding_dim, latent_dim, recon_weight, optimisers) and runs on tiny
stand-in data of the same kind: a generated image folder (one sub-folder per class)
for `folder:` datasets, fake TFDS examples for TFDS-backed ones, tiny IDX files for
MNIST-like ones. Only widths and batch shrink, so the real layer stack is exercised.
Configs added to configs/ later are picked up automatically.
"""

import contextlib
import glob
import os

import numpy as np
import pytest

from conftest import REPO

CONFIG_FILES = sorted(glob.glob(os.path.join(REPO, "configs", "*.py")))
CONFIG_NAMES = [os.path.basename(p)[:-3] for p in CONFIG_FILES
                if not os.path.basename(p).startswith("_")]

# One config per published experiment.
PAPER_CONFIGS = ("lsun_church_128", "mnist_gan", "mnist_dcgan", "cdcgan_mnist",
                  "cdcgan_animal_faces", "cdcgan_celeba", "pets_64", "faces_64", "cars_64",
                  "anime_faces", "anime_faces_sn")

# Datasets read from MNIST-style IDX files when --data_dir holds them.
IDX_DATASETS = ("mnist", "fashion_mnist")


def _image_folder(root, num_classes, size=40, per_class=6, seed=0):
  """PNG folder: one sub-folder per class (flat when num_classes < 2), random RGB images."""
  import tensorflow as tf
  rng = np.random.default_rng(seed)
  classes = [f"class_{i}" for i in range(num_classes)] if num_classes >= 2 else [""]
  for name in classes:
    folder = os.path.join(root, name)
    os.makedirs(folder, exist_ok=True)
    for j in range(per_class):
      pixels = rng.integers(0, 256, [size, size + j, 3], dtype=np.uint8)  # non-square too
      tf.io.write_file(os.path.join(folder, f"{j}.png"), tf.io.encode_png(pixels))
  return root


def _idx_files(folder, count=32, seed=0):
  """train-{images,labels} IDX .gz files of random 28x28 digits, labels 0..9."""
  import gzip
  import struct
  rng = np.random.default_rng(seed)
  os.makedirs(folder, exist_ok=True)
  images = rng.integers(0, 256, [count, 28, 28], dtype=np.uint8)
  labels = np.arange(count, dtype=np.uint8) % 10
  with gzip.open(os.path.join(folder, "train-images-idx3-ubyte.gz"), "wb") as f:
    f.write(struct.pack(">HBBIII", 0, 8, 3, count, 28, 28) + images.tobytes())
  with gzip.open(os.path.join(folder, "train-labels-idx1-ubyte.gz"), "wb") as f:
    f.write(struct.pack(">HBBI", 0, 8, 1, count) + labels.tobytes())
  return folder


def _fake_tfds(builder, split, decoders=None, read_config=None, **kwargs):
  """Fake examples of any TFDS image dataset: its Image features and its ClassLabel 'label'.

  Used instead of tfds' own mock examples, which draw invalid bounding boxes for
  datasets that have them (oxford_iiit_pet, cars196) and then fail to encode.
  """
  import tensorflow as tf
  import tensorflow_datasets as tfds
  del split, decoders, read_config, kwargs
  features = builder.info.features
  image_keys = [k for k, f in features.items() if isinstance(f, tfds.features.Image)]
  label = features["label"] if "label" in features.keys() else None

  def example(i):
    out = {k: tf.cast(tf.random.stateless_uniform([d or 40 for d in features[k].shape],
                                                  tf.stack([i, 0]), 0, 256, tf.int64), tf.uint8)
           for k in image_keys}
    if isinstance(label, tfds.features.ClassLabel):
      out["label"] = i % label.num_classes
    return out

  return tf.data.Dataset.range(8).map(example)


def tiny_data(config, tmp):
  """(config on tiny stand-in data, context manager to train under)."""
  import tensorflow_datasets as tfds
  name = config.dataset
  if name.startswith("folder:"):
    root = _image_folder(str(tmp / "images"), config.num_classes)
    return config.replace(dataset="folder:" + root), contextlib.nullcontext()
  if name == "digits":
    return config, contextlib.nullcontext()
  if name in IDX_DATASETS:
    return config.replace(data_dir=_idx_files(str(tmp / "idx"))), contextlib.nullcontext()
  # Everything else is TFDS-backed (named datasets, tfds:NAME): fake examples, and an
  # empty data_dir so no hand-placed files (LMDB, image folders) are picked up.
  data_dir = str(tmp / "tfds")
  os.makedirs(data_dir, exist_ok=True)
  return (config.replace(data_dir=data_dir, manual_dir=""),
          tfds.testing.mock_data(num_examples=8, data_dir=data_dir, as_dataset_fn=_fake_tfds))


def shrink(config):
  """Two steps, narrow networks, small batches; architecture-defining fields kept (the
  convolutions Keras' own, as conftest.tiny: an implementation, not an architecture)."""
  return config.replace(
      gen_filters=min(config.gen_filters, 4), disc_filters=min(config.disc_filters, 4),
      mlp_units=min(config.mlp_units, 10 * config.maxout_pieces), batch_size=4,
      train_steps=2, epochs=0.0, log_every=1, sample_every=1000, checkpoint_every=1000,
      num_grid_samples=4, shuffle_buffer=8, cache="none", precision="float32",
      strategy="default", jit_compile="off", steps_per_execution=1, export=True,
      conv_impl="keras")


def test_every_paper_experiment_has_a_config():
  assert set(PAPER_CONFIGS) <= set(CONFIG_NAMES)


def test_the_best_config_changes_only_the_measured_settings_and_the_paper_config_none():
  """configs/fashion_mnist_best.py is the paper config plus exactly the sweep's winner (G's lr
  four times D's); the paper config keeps the DCGAN paper's values."""
  import dataclasses
  from dcgan_tf import config as config_lib
  paper = config_lib.load_config_file("fashion_mnist")
  best = config_lib.load_config_file("fashion_mnist_best")
  changed = {f.name: getattr(best, f.name) for f in dataclasses.fields(best)
             if getattr(best, f.name) != getattr(paper, f.name)}
  assert changed == {"g_lr": 8e-4}
  assert (paper.loss, paper.beta_1, paper.beta_2, paper.g_lr, paper.d_lr, paper.batch_size,
          paper.variant) == ("nonsaturating", 0.5, 0.999, 2e-4, 2e-4, 128, "dcgan")


def _exported_shapes():
  """The first config of each (variant, image_size, channels): only those export (an export
  costs ~3 s and proves nothing new for a second config of the same network shape)."""
  from dcgan_tf import config as config_lib
  first = {}
  for name in CONFIG_NAMES:
    c = config_lib.load_config_file(name)
    first.setdefault((c.variant, c.image_size, c.channels), name)
  return set(first.values())


EXPORTED = _exported_shapes()


def train_two_steps_and_export(config, workdir, export=True):
  """Data -> models -> two eager GAN steps -> SavedModel; returns (gan, num_classes, path).

  What train/setup.py builds for a run (the class count resolved from the data, the GAN by
  setup.make_gan), minus its callbacks and fit() (tracing fit costs ~5 s per config;
  test_export.py covers that path).
  """
  import tensorflow as tf
  from dcgan_tf import config as config_lib
  from dcgan_tf import data
  from dcgan_tf.export import savedmodel
  from dcgan_tf.train import setup
  dataset, source = data.make_dataset(config, batch_size=config.batch_size)
  config = config_lib.resolve_classes(config, source.num_classes)
  gan, _, _ = setup.make_gan(config, tf.distribute.get_strategy())
  batches = iter(dataset)
  for _ in range(2):
    logs = gan.train_step(next(batches))
    assert all(np.isfinite(v.numpy()).all() for v in logs.values()), logs
  assert int(gan.step.numpy()) == 2
  path = savedmodel.export_generator(gan.generator, os.path.join(workdir, "saved_model"),
                                     config) if export else None
  return gan, config.num_classes, path


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_config_trains_and_exports(name, tmp_path):
  """export_generator itself loads the SavedModel back and checks both signatures."""
  from dcgan_tf import config as config_lib
  original = config_lib.load_config_file(name)
  config_lib.validate(original)
  text = open(os.path.join(REPO, "configs", name + ".py")).read()
  assert text.lstrip().startswith('"""'), f"configs/{name}.py: explain it in a docstring"
  if name in PAPER_CONFIGS:
    assert "Source:" in text, f"configs/{name}.py: name the source of its settings"
  config, context = tiny_data(shrink(original), tmp_path)
  with context:
    gan, num_classes, path = train_two_steps_and_export(config, str(tmp_path),
                                                        export=name in EXPORTED)
  assert path is None or os.path.isfile(os.path.join(path, "saved_model.pb"))
  g = gan.generator
  assert (g.image_size, g.channels, g.latent_dim) == (
      original.image_size, original.channels, original.latent_dim)
  if original.variant in config_lib.CONDITIONAL_VARIANTS:  # its class count, or the data's
    assert num_classes == original.num_classes or (num_classes >= 1 and not original.num_classes)
  else:
    assert num_classes == 0
