"""A small CNN classifier for MNIST-like images, and its penultimate features.

Used for offline FID-style metrics (`--feature_extractor=classifier`: Frechet
distance between its penultimate features, as "classifier FID" in the
conditional-GAN literature), for the real-vs-fake test (2 classes), and by the
variants' class-accuracy checks.

Input: float32 [B, H, W, C] in [-1, 1] (NHWC), any square size >= 8.
Output: logits float32 [B, num_classes] (no softmax).
"""

import math

import keras
import numpy as np
from keras import layers

from dcgan_tf import atomic
from dcgan_tf.errors import UserError

# Name of the penultimate (feature) layer: a ReLU Dense, values >= 0.
FEATURE_LAYER = "features"


WIDTH = 32  # channels of the first conv block (then 2x, 4x)
FEATURE_DIM = 128  # units of the feature layer FID/KID/P-R-D-C read
LEARNING_RATE = 1e-3  # Adam


def build_classifier(image_shape, num_classes, seed=0) -> keras.Model:
  """Functional CNN: conv3x3-pool blocks (WIDTH, 2x, 4x channels) -> Dense features
  (FEATURE_DIM, ReLU) -> logits.

  About 10 M multiply-adds per 32x32 image: a Fashion-MNIST epoch takes about a minute
  on two CPU cores.

  Functional (not subclassed) so it saves/loads as `.keras` without custom objects
  and `feature_model` can cut it at the feature layer.
  """
  height = image_shape[0]
  # Halve the resolution while it stays >= 4 pixels, at most three times:
  # 32x32 -> 4x4, 64x64 -> 8x8, 28x28 -> 7x7, 8x8 -> 4x4.
  pools = max(0, min(3, int(math.log2(max(height, 1) / 4))))
  init = keras.initializers.HeNormal(seed=seed)
  inputs = keras.Input(shape=tuple(image_shape), name="images")
  h = inputs
  for i in range(3):
    filters = WIDTH * 2 ** i
    h = layers.Conv2D(filters, 3, padding="same", activation="relu", kernel_initializer=init,
                      name=f"conv{i}")(h)
    if i < pools:
      h = layers.MaxPooling2D(2, name=f"pool{i}")(h)
  h = layers.GlobalAveragePooling2D(name="gap")(h)
  h = layers.Dense(FEATURE_DIM, activation="relu", kernel_initializer=init, name=FEATURE_LAYER)(h)
  h = layers.Dropout(0.3, seed=seed, name="dropout")(h)
  logits = layers.Dense(num_classes, kernel_initializer=keras.initializers.GlorotUniform(seed),
                        name="logits")(h)
  return keras.Model(inputs, logits, name="classifier")


def train_classifier(images, labels, num_classes, epochs=3, seed=0,
                     batch_size=128) -> keras.Model:
  """Trains `build_classifier` with Adam on sparse softmax cross-entropy.

  images: float32 [N, H, W, C] in [-1, 1]; labels: int [N] in [0, num_classes).
  Returns the trained model (logits out); see `accuracy` and `feature_model`.
  """
  images = np.asarray(images, np.float32)
  labels = np.asarray(labels, np.int32)
  if images.ndim != 4 or len(images) != len(labels):
    raise UserError(f"train_classifier: want images [N, H, W, C] and labels [N], got "
                     f"{images.shape} and {labels.shape}")
  if len(images) == 0:
    raise UserError("train_classifier: no training images")
  keras.utils.set_random_seed(seed)
  model = build_classifier(images.shape[1:], num_classes, seed=seed)
  model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"])
  model.fit(images, labels, batch_size=batch_size, epochs=epochs, shuffle=True,
            verbose=0)
  return model


def predict_logits(model, images, batch_size=256) -> np.ndarray:
  """float32 [N, num_classes] logits, in inference mode (dropout off)."""
  return np.asarray(model.predict(np.asarray(images, np.float32), batch_size=batch_size,
                                  verbose=0), np.float32)


def accuracy(model, images, labels, batch_size=256) -> float:
  """Fraction of `images` whose argmax logit equals `labels`, in [0, 1]."""
  predicted = predict_logits(model, images, batch_size).argmax(axis=-1)
  return float(np.mean(predicted == np.asarray(labels)))


def feature_model(model) -> keras.Model:
  """images [-1, 1] -> (features [B, FEATURE_DIM] >= 0, logits [B, num_classes])."""
  return keras.Model(model.input, [model.get_layer(FEATURE_LAYER).output, model.outputs[0]],
                     name="classifier_features")


def save(model, path):
  """Writes `.keras` atomically (temporary file, then rename): safe for shared caches."""
  with atomic.replacing(path) as tmp:
    model.save(tmp)
  return path


def load(path) -> keras.Model:
  return keras.models.load_model(path, compile=False)
