"""One evaluation's inputs, computed lazily and shared between metrics.

`Context(run, settings)`: a restored (or training) run and the `Settings` every number
depends on (sample count, seed, feature extractor, caches; evaluate's options of the same
names, mapped by `Settings.from_options`). The real side (images, features, the feature
classifier) is cached on the Context; everything that depends on G lives in
`context.samples` (its images, their labels and features, the k-NN values), which
`refresh()` replaces when G has changed or to score G with truncated z.

Caches (in cache_dir, default ~/.cache/dcgan_tf): the dataset classifier of
feature_extractor=classifier, and real-image features per dataset / split / size /
extractor / sample count / seed, so a second evaluation only pays for the fakes.
"""

import dataclasses
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
from dcgan_tf.evaluate.options import Options
from dcgan_tf.evaluate.metrics import extractors
from dcgan_tf.evaluate.metrics import manifold

# Datasets with a single split: the SVM test splits them in half (stratified).
SINGLE_SPLIT = ("digits",)


@dataclasses.dataclass(frozen=True)
class Settings:
  """What a Context draws and computes with: the fields of evaluate's options of the same
  names (their help texts say what each means). Defaults are evaluate's, so a caller that
  names only the first three follows `evaluate` with those three flags."""
  num_samples: int
  seed: int
  feature_extractor: str
  inception_weights: str = Options.inception_weights
  cache_dir: str = Options.cache_dir
  real_split: str = Options.real_split
  real_pool: int = Options.real_pool
  fake_split: str = Options.fake_split
  classifier_examples: int = Options.classifier_examples
  classifier_epochs: int = Options.classifier_epochs
  realfake_epochs: int = Options.realfake_epochs
  svm_dataset: str = Options.svm_dataset
  svm_features: str = Options.svm_features
  svm_train_examples: int = Options.svm_train_examples
  svm_test_examples: int = Options.svm_test_examples
  svm_c: float = Options.svm_c
  batch_size: int = Options.batch_size

  @classmethod
  def from_options(cls, options: Options) -> "Settings":
    """evaluate's options -> the settings of its Context (every field by its name)."""
    return cls(**{f.name: getattr(options, f.name) for f in dataclasses.fields(cls)})


def cache_dir(settings) -> str:
  return (settings.cache_dir or os.environ.get("DCGAN_TF_CACHE")
          or os.path.join(os.path.expanduser("~"), ".cache", "dcgan_tf"))


def _slug(*parts) -> str:
  """A file-name-safe key; long or path-like parts get a short hash."""
  text = "_".join(str(p) for p in parts)
  safe = re.sub(r"[^A-Za-z0-9.=-]+", "-", text).strip("-")
  if len(safe) > 80 or safe != text.replace("_", "-"):
    safe = safe[:60] + "-" + hashlib.sha1(text.encode()).hexdigest()[:10]
  return safe


def load_images(config, num, seed, split=None, dataset=None, as_trained=True, draw="real",
                pool=0):
  """Up to `num` (None: all) preprocessed images of a dataset: (float32 [n, S, S, C] in [-1, 1],
  int32 [n], num_classes); S and C are the run's.

  A uniform random sample without replacement (reservoir sampling over the split in file
  order), in random order; as_trained: with the pipeline's random flips / MNIST rotation
  (else as stored). All decided by the "eval_images" stream of `seed` (evaluate's --seed)
  for `draw` (real | classifier | fake_split | svm | svm_train | svm_test; seeds.py) alone,
  not by tf.data's seeded shuffle: that also depends on TensorFlow's global seed, which
  differs between a training process and `evaluate`. pool > 0: from the split's first
  `pool` images only.
  """
  stream = seeds.derive(seed, "eval_images", draw)
  cfg = config.replace(dataset=dataset or config.dataset, split=split or config.split,
                       cache="none", shuffle_buffer=1)  # 1: the split's stored order, files too
  if not as_trained:  # the images as stored (memorisation looks for copies of these)
    cfg = cfg.replace(random_flip=False, mnist_augment=False)
  # Batches of 1 so drop_remainder drops nothing, re-batched for speed.
  ds, source = data_lib.make_dataset(cfg, batch_size=1, seed=stream, repeat=False)
  if pool:
    ds = ds.take(pool)
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
    raise UserError(f"split {cfg.split!r} of dataset {cfg.dataset!r} has no images")
  if num and len(images) < num:
    logging.warning("%s/%s has only %d images (wanted %d)", cfg.dataset, cfg.split, len(images),
                    num)
  order = rng.permutation(len(images))
  return (np.stack(images)[order], np.asarray(labels, np.int32)[order], source.num_classes)


def svm_data(config, settings):
  """((train images, labels), (test images, labels), num_classes) at the run's size/channels."""
  dataset = settings.svm_dataset or config.dataset
  if dataset in SINGLE_SPLIT:
    from sklearn.model_selection import train_test_split
    images, labels, num_classes = load_images(config, None, settings.seed, dataset=dataset,
                                              draw="svm")
    x_tr, x_te, y_tr, y_te = train_test_split(
        images, labels, test_size=0.5, stratify=labels,
        random_state=seeds.derive(settings.seed, "eval_images", "svm_split"))
    train = (x_tr[:settings.svm_train_examples], y_tr[:settings.svm_train_examples])
    test = (x_te[:settings.svm_test_examples], y_te[:settings.svm_test_examples])
  else:
    *train, num_classes = load_images(config, settings.svm_train_examples, settings.seed,
                                      split="train", dataset=dataset, draw="svm_train")
    *test, _ = load_images(config, settings.svm_test_examples, settings.seed, split="test",
                           dataset=dataset, draw="svm_test")
  if num_classes < 2:
    raise UserError(f"{dataset!r} has no class labels; pick a labelled dataset "
                    "(digits, mnist, fashion_mnist, cifar10)", "svm_dataset")
  return tuple(train), tuple(test), num_classes


class Samples:
  """The generated side of one evaluation, computed lazily: G's images for the Context's
  settings, with z truncated at `truncation` (t > 0; None: untruncated), their labels,
  features and k-NN values. Context.refresh() replaces it when G (or t) changes."""

  def __init__(self, context: "Context", truncation=None):
    self.context, self.truncation = context, truncation

  @functools.cached_property
  def labels(self):
    """int32 [num_samples] uniform labels of the generated images (None: unconditional)."""
    ctx, s = self.context, self.context.settings
    if s.fake_split:
      return ctx._fake_split_images[1] if ctx.run.num_classes else None
    return inference.random_labels(s.num_samples, ctx.run.num_classes, s.seed)

  @functools.cached_property
  def images(self):
    """float32 [num_samples, S, S, C] in [-1, 1]: G(z, labels), or fake_split's real images."""
    ctx, s = self.context, self.context.settings
    if s.fake_split:
      return ctx._fake_split_images[0]
    if self.truncation is None:  # the z of the export's generate(num, seed) (noise.py)
      z = inference.latent(s.num_samples, ctx.config.latent_dim, s.seed)
    else:  # the z of the export's generate_truncated(num, seed, t)
      z = noise.normal(s.num_samples, ctx.config.latent_dim, s.seed,
                       tf.constant(self.truncation, tf.float32)).numpy()
    return inference.generate(ctx.run, z, self.labels)

  @functools.cached_property
  def features(self):
    """(features, logits) of the images by the Context's extractor."""
    return self.context.extractor(self.images)

  @functools.cached_property
  def manifold(self):
    """precision, recall, density, coverage of these features against the real ones."""
    return manifold.prdc(self.context.real_features[0], self.features[0])


class Context:
  """One evaluation's lazily computed inputs, shared between metrics."""

  def __init__(self, run: inference.Run, settings: Settings):
    self.run, self.settings = run, settings
    # Real images and the feature classifier come from real_split of the run's dataset.
    self.config = run.config.replace(split=settings.real_split or run.config.split)
    self.cache = cache_dir(settings)
    self.samples = Samples(self)

  def refresh(self, truncation=None):
    """Starts the generated side afresh (G has changed, or z is to be truncated at t > 0;
    None: untruncated); real images, real features and the classifier stay."""
    self.samples = Samples(self, truncation)

  def use_generator(self, generator, ema: bool):
    """Scores `generator` (ema: it holds EMA weights) from now on, on the same real side."""
    self.run = dataclasses.replace(self.run, generator=generator, ema=ema)
    self.refresh()

  @functools.cached_property
  def _fake_split_images(self):
    """fake_split: (images, labels) of real images scored in G's place (a reference row:
    what each metric gives for fresh data), drawn from another stream than the real images."""
    s = self.settings
    if s.fake_split == self.config.split:
      raise UserError(f"{s.fake_split!r} is the split the real images come from; give a "
                      "held-out one (e.g. test), or real_split=another", "fake_split")
    images, labels, _ = load_images(self.run.config, s.num_samples, s.seed,
                                    split=s.fake_split, draw="fake_split")
    return images, labels

  @functools.cached_property
  def _real_images(self):
    return load_images(self.config, self.settings.num_samples, self.settings.seed,
                       pool=self.settings.real_pool)

  @property
  def real(self):
    """float32 [num_samples, S, S, C] in [-1, 1] of real_split (or the run's split)."""
    return self._real_images[0]

  @property
  def real_labels(self):
    """int32 [num_samples]: their labels (all 0 for unlabelled data)."""
    return self._real_images[1]

  @functools.cached_property
  def extractor(self):
    if self.settings.feature_extractor == "inception":
      return extractors.inception(self.settings.inception_weights)
    model, info = self.classifier
    return extractors.ClassifierFeatures(model, f"classifier:{info['key']}")

  def _classifier_paths(self):
    """(key, .keras path, .json path) of this dataset's cached classifier."""
    c, s = self.config, self.settings
    key = _slug(c.dataset, c.split, f"{c.image_size}x{c.image_size}x{c.channels}",
                f"n{s.classifier_examples}", f"e{s.classifier_epochs}",
                f"s{seeds.derive(s.seed, 'classifier')}")  # the seed its weights came from
    path = os.path.join(self.cache, f"classifier_{key}.keras")
    return key, path, path[:-len(".keras")] + ".json"

  def has_cached_classifier(self) -> bool:
    return all(os.path.isfile(p) for p in self._classifier_paths()[1:])

  @functools.cached_property
  def classifier(self):
    """(trained classifier.py model, info dict); trained once per dataset/size, then cached."""
    c, s = self.config, self.settings
    key, path, info_path = self._classifier_paths()
    if self.has_cached_classifier():
      with open(info_path) as f:
        return classifier_lib.load(path), json.load(f)
    images, labels, num_classes = load_images(c, s.classifier_examples, s.seed,
                                              draw="classifier")
    if num_classes < 2:
      raise UserError(f"the classifier's features need class labels, which dataset "
                      f"{c.dataset!r} has none of; use feature_extractor=inception",
                      "feature_extractor")
    held = max(1, len(images) // 10)
    logging.info("Training the FID classifier on %d %s images (%d epochs)", len(images) - held,
                 c.dataset, s.classifier_epochs)
    model = classifier_lib.train_classifier(images[held:], labels[held:], num_classes,
                                            epochs=s.classifier_epochs,
                                            seed=seeds.derive(s.seed, "classifier"))
    info = dict(key=key, num_classes=num_classes, train_examples=len(images) - held,
                held_out_accuracy=classifier_lib.accuracy(model, images[:held], labels[:held]))
    classifier_lib.save(model, path)
    atomic.write_text(info_path, json.dumps(info))
    return model, info

  def _cached_features(self, config, num, images):
    """(features, logits) of `images()` (real images of config's split), cached on disk per
    data / extractor and its weights / N / the stream their sample came from."""
    key = _slug(config.dataset, config.split,
                f"{config.image_size}x{config.image_size}x{config.channels}",
                f"crop{config.center_crop}", f"flip{int(config.random_flip)}",
                f"aug{int(config.mnist_augment)}",
                self.extractor.name, self.extractor.weights_hash, f"n{num}",
                f"s{seeds.derive(self.settings.seed, 'eval_images', 'real')}")
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
    return self._cached_features(self.config, self.settings.num_samples, lambda: self.real)

  @functools.cached_property
  def train_features(self):
    """Features of the run's whole training split (not real_split): memorisation's
    reference, whatever the real images of the other metrics are."""
    config = self.run.config
    return self._cached_features(config.replace(random_flip=False, mnist_augment=False),
                                 "all", lambda: load_images(config, None, self.settings.seed,
                                                            as_trained=False)[0])[0]

  @functools.cached_property
  def train_nearest(self):
    """Each training feature's distance to its nearest other one (memorisation's reference;
    N^2 distances, so once per evaluation, not once per truncation t)."""
    return manifold.kth_neighbour_distances(self.train_features, 1)

  def protocol(self) -> dict:
    """What a number depends on besides G: results with different protocols are not
    comparable (evaluator.write_results refuses to merge them). Counts are of the image
    sets computed so far (cached properties), else the settings' num_samples."""
    s, c, loaded, generated = self.settings, self.config, self.__dict__, self.samples.__dict__

    def count(name, default):  # how many images a computed set really holds
      return len(loaded[name][0]) if name in loaded else default

    steps = ([f"center {c.center_crop}px"] if c.center_crop else []) + [
        f"bilinear, antialiased, center square {c.image_size}px"] + (
        ["random flips"] if c.random_flip else []) + (
        ["MNIST augmentation"] if c.mnist_augment else [])
    generator = ("real:" + s.fake_split if s.fake_split else
                 "ema" if self.run.ema else "trained")
    protocol = dict(generated=len(generated["images"]) if "images" in generated else
                    s.num_samples,
                    real=count("real_features", count("_real_images", s.num_samples)),
                    seed=s.seed, real_split=f"{c.dataset}:{c.split}" + (
                        f", first {s.real_pool}" if s.real_pool else ""), resize=", ".join(steps),
                    generator=generator, truncation=self.samples.truncation)
    if "extractor" in loaded:  # only when a metric used features
      protocol.update(feature_extractor=self.extractor.name,
                      extractor_weights_sha256=self.extractor.weights_hash,
                      extractor_resize=self.extractor.input_resize)
    return protocol
