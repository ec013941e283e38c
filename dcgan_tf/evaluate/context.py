"""One evaluation's inputs, computed lazily and shared between metrics: real and
generated images, the feature extractor and the features, cached on disk.

Caches (in --cache_dir, default ~/.cache/dcgan_tf): the dataset classifier of
`--feature_extractor=classifier`, and real-image features per dataset / split / size /
extractor / sample count / seed, so a second evaluation only pays for the fakes.
"""

import functools
import hashlib
import json
import os
import re

import numpy as np
import tensorflow as tf
from absl import logging

from dcgan_tf import atomic
from dcgan_tf import data as data_lib
from dcgan_tf import inference
from dcgan_tf import noise
from dcgan_tf import seeds
from dcgan_tf.errors import UserError
from dcgan_tf.evaluate import classifier as classifier_lib
from dcgan_tf.evaluate.metrics import extractors
from dcgan_tf.evaluate.metrics import manifold

# Datasets with a single split: the SVM test splits them in half (stratified).
SINGLE_SPLIT = ("digits",)


def cache_dir(options) -> str:
  return (options.cache_dir or os.environ.get("DCGAN_TF_CACHE")
          or os.path.join(os.path.expanduser("~"), ".cache", "dcgan_tf"))


def _slug(*parts) -> str:
  """A file-name-safe key; long or path-like parts get a short hash."""
  text = "_".join(str(p) for p in parts)
  safe = re.sub(r"[^A-Za-z0-9.=-]+", "-", text).strip("-")
  if len(safe) > 80 or safe != text.replace("_", "-"):
    safe = safe[:60] + "-" + hashlib.sha1(text.encode()).hexdigest()[:10]
  return safe


def load_images(config, num, seed, split=None, dataset=None, as_trained=True, draw="real"):
  """Up to `num` (None: all) preprocessed images of a dataset: (float32 [n, S, S, C] in [-1, 1],
  int32 [n], num_classes); S and C are the run's.

  A uniform random sample without replacement (reservoir sampling over the split in file
  order), in random order; as_trained: with the pipeline's random flips / MNIST rotation
  (else as stored). All decided by the "eval_images" stream of `seed` (evaluate's --seed)
  for `draw` (real | classifier | fake_split | svm | svm_train | svm_test; seeds.py) alone,
  not by tf.data's seeded shuffle: that also depends on TensorFlow's global seed, which
  differs between a training process and `evaluate`.
  """
  stream = seeds.derive(seed, "eval_images", draw)
  cfg = config.replace(dataset=dataset or config.dataset, split=split or config.split,
                       cache="none", shuffle_buffer=1)  # a buffer of 1: the split's own order
  if not as_trained:  # the images as stored (memorisation looks for copies of these)
    cfg = cfg.replace(random_flip=False, mnist_augment=False)
  # Batches of 1 so drop_remainder drops nothing, re-batched for speed.
  ds, source = data_lib.make_dataset(cfg, batch_size=1, seed=stream, repeat=False)
  rng = np.random.default_rng(stream)  # numpy's generator: not the pipeline's stream
  images, labels, seen = [], [], 0
  for x, y in ds.unbatch().batch(500):
    x, y = x.numpy(), y.numpy()
    if num is None or seen + len(x) <= num:
      images += list(x)
      labels += list(y)
    else:  # reservoir: item t replaces a random kept one with probability num / (t + 1)
      slots = rng.integers(0, np.arange(seen, seen + len(x)) + 1)
      for i, slot in enumerate(slots):
        if len(images) < num:
          images.append(x[i])
          labels.append(y[i])
        elif slot < num:
          images[slot], labels[slot] = x[i], y[i]
    seen += len(x)
  if not images:
    raise UserError(f"--dataset={cfg.dataset}: split {cfg.split!r} has no images")
  if num and len(images) < num:
    logging.warning("%s/%s has only %d images (wanted %d)", cfg.dataset, cfg.split, len(images),
                    num)
  order = rng.permutation(len(images))
  return (np.stack(images)[order], np.asarray(labels, np.int32)[order], source.num_classes)


def svm_data(config, options):
  """((train images, labels), (test images, labels), num_classes) at the run's size/channels."""
  dataset = options.svm_dataset or config.dataset
  if dataset in SINGLE_SPLIT:
    from sklearn.model_selection import train_test_split
    images, labels, num_classes = load_images(config, None, options.seed, dataset=dataset,
                                              draw="svm")
    x_tr, x_te, y_tr, y_te = train_test_split(
        images, labels, test_size=0.5, stratify=labels,
        random_state=seeds.derive(options.seed, "eval_images", "svm_split"))
    train = (x_tr[:options.svm_train_examples], y_tr[:options.svm_train_examples])
    test = (x_te[:options.svm_test_examples], y_te[:options.svm_test_examples])
  else:
    *train, num_classes = load_images(config, options.svm_train_examples, options.seed,
                                      split="train", dataset=dataset, draw="svm_train")
    *test, _ = load_images(config, options.svm_test_examples, options.seed, split="test",
                           dataset=dataset, draw="svm_test")
  if num_classes < 2:
    raise UserError(f"--svm_dataset: {dataset!r} has no class labels; pick a labelled dataset "
                     "(digits, mnist, fashion_mnist, cifar10)")
  return tuple(train), tuple(test), num_classes



class Context:
  """One evaluation's lazily computed inputs, shared between metrics."""

  def __init__(self, run: inference.Run, options):
    self.run, self.options = run, options
    # Real images and the feature classifier come from --real_split of the run's dataset.
    self.config = run.config.replace(split=options.real_split or run.config.split)
    self.cache = cache_dir(options)
    self.truncation = None  # t > 0: G's z truncated at t (evaluate --truncation); refresh()

  @functools.cached_property
  def _fake_split_images(self):
    """--fake_split: (images, labels) of real images scored in G's place (a reference row:
    what each metric gives for fresh data), drawn from another stream than the real images."""
    o = self.options
    if o.fake_split == self.config.split:
      raise UserError(f"--fake_split: {o.fake_split!r} is the split the real images come "
                      "from; give a held-out one (e.g. test), or --real_split=another")
    images, labels, _ = load_images(self.run.config, o.num_samples, o.seed,
                                    split=o.fake_split, draw="fake_split")
    return images, labels

  @functools.cached_property
  def fake_labels(self):
    """int32 [num_samples] uniform labels of the generated images (None: unconditional)."""
    if self.options.fake_split:
      return self._fake_split_images[1] if self.run.num_classes else None
    return inference.random_labels(self.options.num_samples, self.run.num_classes,
                                   self.options.seed)

  @functools.cached_property
  def fake(self):
    """float32 [num_samples, S, S, C] in [-1, 1]: G(z, fake_labels), or --fake_split's
    real images."""
    if self.options.fake_split:
      return self._fake_split_images[0]
    o = self.options
    if self.truncation is None:  # the z of the export's generate(num, seed) (noise.py)
      z = inference.latent(o.num_samples, self.config.latent_dim, o.seed)
    else:  # the z of the export's generate_truncated(num, seed, t)
      z = noise.normal(o.num_samples, self.config.latent_dim, o.seed,
                       tf.constant(self.truncation, tf.float32)).numpy()
    return inference.generate(self.run, z, self.fake_labels)

  @functools.cached_property
  def _real_images(self):
    return load_images(self.config, self.options.num_samples, self.options.seed)

  @property
  def real(self):
    """float32 [num_samples, S, S, C] in [-1, 1] of --real_split (or the run's split)."""
    return self._real_images[0]

  @property
  def real_labels(self):
    """int32 [num_samples]: their labels (all 0 for unlabelled data)."""
    return self._real_images[1]

  @functools.cached_property
  def extractor(self):
    if self.options.feature_extractor == "inception":
      return extractors.inception(self.options.inception_weights)
    model, info = self.classifier
    return extractors.ClassifierFeatures(model, f"classifier:{info['key']}")

  def refresh(self):
    """Forgets the generated images and their features (the generator has changed); real
    images, real features and the classifier stay."""
    for name in ("fake", "fake_labels", "fake_features", "manifold"):
      self.__dict__.pop(name, None)

  def _classifier_paths(self):
    """(key, .keras path, .json path) of this dataset's cached classifier."""
    c, o = self.config, self.options
    key = _slug(c.dataset, c.split, f"{c.image_size}x{c.image_size}x{c.channels}",
                f"n{o.classifier_examples}", f"e{o.classifier_epochs}",
                f"s{seeds.derive(o.seed, 'classifier')}")  # the seed its weights came from
    path = os.path.join(self.cache, f"classifier_{key}.keras")
    return key, path, path[:-len(".keras")] + ".json"

  def has_cached_classifier(self) -> bool:
    return all(os.path.isfile(p) for p in self._classifier_paths()[1:])

  @functools.cached_property
  def classifier(self):
    """(trained classifier.py model, info dict); trained once per dataset/size, then cached."""
    c, o = self.config, self.options
    key, path, info_path = self._classifier_paths()
    if self.has_cached_classifier():
      with open(info_path) as f:
        return classifier_lib.load(path), json.load(f)
    images, labels, num_classes = load_images(c, o.classifier_examples, o.seed,
                                              draw="classifier")
    if num_classes < 2:
      raise UserError(f"--feature_extractor=classifier: dataset {c.dataset!r} has no class labels; "
                       "use --feature_extractor=inception")
    held = max(1, len(images) // 10)
    logging.info("Training the FID classifier on %d %s images (%d epochs)", len(images) - held,
                 c.dataset, o.classifier_epochs)
    model = classifier_lib.train_classifier(images[held:], labels[held:], num_classes,
                                            epochs=o.classifier_epochs,
                                            seed=seeds.derive(o.seed, "classifier"))
    info = dict(key=key, num_classes=num_classes, train_examples=len(images) - held,
                held_out_accuracy=classifier_lib.accuracy(model, images[:held], labels[:held]))
    classifier_lib.save(model, path)
    atomic.write_text(info_path, json.dumps(info))
    return model, info

  @functools.cached_property
  def fake_features(self):
    return self.extractor(self.fake)

  def _cached_features(self, config, num, images):
    """(features, logits) of `images()` (real images of config's split), cached on disk per
    data / extractor and its weights / N / the stream their sample came from."""
    key = _slug(config.dataset, config.split,
                f"{config.image_size}x{config.image_size}x{config.channels}",
                f"crop{config.center_crop}", f"flip{int(config.random_flip)}",
                f"aug{int(config.mnist_augment)}",
                self.extractor.name, self.extractor.weights_hash, f"n{num}",
                f"s{seeds.derive(self.options.seed, 'eval_images', 'real')}")
    path = os.path.join(self.cache, f"real_features_{key}.npz")
    if os.path.isfile(path):
      with np.load(path) as saved:
        return saved["features"], saved["logits"]
    features, logits = self.extractor(images())
    with atomic.replacing(path) as tmp:
      np.savez(tmp, features=features, logits=logits)
    return features, logits

  @functools.cached_property
  def real_features(self):
    """(features, logits) of the real images."""
    return self._cached_features(self.config, self.options.num_samples, lambda: self.real)

  @functools.cached_property
  def train_features(self):
    """Features of the run's whole training split (not --real_split): memorisation's
    reference, whatever the real images of the other metrics are."""
    config = self.run.config
    return self._cached_features(config.replace(random_flip=False, mnist_augment=False),
                                 "all", lambda: load_images(config, None, self.options.seed,
                                                            as_trained=False)[0])[0]

  @functools.cached_property
  def train_nearest(self):
    """Each training feature's distance to its nearest other one (memorisation's reference;
    N^2 distances, so once per evaluation, not once per truncation t)."""
    return manifold.kth_neighbour_distances(self.train_features, 1)

  @functools.cached_property
  def manifold(self):
    """precision, recall, density, coverage of the fake against the real features."""
    return manifold.prdc(self.real_features[0], self.fake_features[0])

  def protocol(self) -> dict:
    """What a number depends on besides G: results with different protocols are not
    comparable (evaluator.write_results refuses to merge them)."""
    o, c, loaded = self.options, self.config, self.__dict__

    def count(name, default):  # how many images a computed set really holds
      return len(loaded[name][0]) if name in loaded else default

    steps = ([f"center {c.center_crop}px"] if c.center_crop else []) + [
        f"bilinear, antialiased, center square {c.image_size}px"] + (
        ["random flips"] if c.random_flip else []) + (
        ["MNIST augmentation"] if c.mnist_augment else [])
    generator = ("real:" + o.fake_split if o.fake_split else
                 "ema" if self.run.ema else "trained")
    protocol = dict(generated=len(loaded["fake"]) if "fake" in loaded else o.num_samples,
                    real=count("real_features", count("_real_images", o.num_samples)),
                    seed=o.seed, real_split=f"{c.dataset}:{c.split}", resize=", ".join(steps),
                    generator=generator, truncation=self.truncation)
    if "extractor" in self.__dict__:  # only when a metric used features
      protocol.update(feature_extractor=self.extractor.name,
                      extractor_weights_sha256=self.extractor.weights_hash,
                      extractor_resize=self.extractor.input_resize)
    return protocol


