"""Class accuracy of a conditional generator: does G(z, y) look like class y?

A classifier (dcgan_tf/classifier.py, trained on the REAL training split) labels
samples from the exported SavedModel's `generate(num, seed, label)` signature; the
score is the fraction whose argmax equals the requested label. Also writes a sample
grid with one row per class (same seeds in every row, so columns share z).

  python cdcgan_class_accuracy.py --saved_model=W/saved_model --dataset=fashion_mnist \
      --image_size=32 --grid=docs/cdcgan_grid.png

Images everywhere: float32 [-1, 1] NHWC, preprocessed by dcgan_tf.data.preprocess
(the training pipeline's function).
"""

import argparse
import json
import os
import time

import numpy as np
import tensorflow as tf

from dcgan_tf import classifier, data
from dcgan_tf.config import Config

CLASS_NAMES = {
    "fashion_mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                      "Sneaker", "Bag", "Ankle boot"],
    "digits": [str(i) for i in range(10)],
}


def real_split(dataset, split, image_size, channels):
  """(images float32 [N, S, S, C] in [-1, 1], labels int32 [N]) via the training preprocessing."""
  config = Config(dataset=dataset, split=split, image_size=image_size, channels=channels)
  source = data.get_source(config)
  ds = source.dataset.map(lambda x, y: (data.preprocess(x, image_size, channels), y),
                          num_parallel_calls=tf.data.AUTOTUNE).batch(1024)
  images, labels = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
  return np.concatenate(images), np.concatenate(labels)


def generate(model, num, seed, label):
  out = model.signatures["generate"](num=tf.constant(num), seed=tf.constant(seed, tf.int64),
                                     label=tf.constant(label))["images"]
  return out.numpy().astype(np.float32) / 127.5 - 1.0  # uint8 [0, 255] -> [-1, 1]


def save_grid(model, names, path, columns=10, seed=0):
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  rows = [generate(model, columns, seed, c) for c in range(len(names))]
  fig, axes = plt.subplots(len(names), columns, figsize=(columns * 0.8 + 1.6, len(names) * 0.8))
  for r, (name, images) in enumerate(zip(names, rows)):
    for c in range(columns):
      ax = axes[r, c]
      ax.imshow((images[c, ..., 0] + 1) / 2 if images.shape[-1] == 1 else (images[c] + 1) / 2,
                cmap="gray", vmin=0, vmax=1)
      ax.set_xticks([]), ax.set_yticks([])
      if c == 0:
        ax.set_ylabel(f"{r}: {name}", rotation=0, ha="right", va="center", fontsize=8)
  fig.suptitle("cdcgan samples: row = requested label, column = same z", fontsize=9)
  fig.subplots_adjust(left=0.17, right=0.99, top=0.95, bottom=0.01, wspace=0.05, hspace=0.05)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.savefig(path, dpi=100)
  if rows[0].shape[-1] == 1:  # grayscale samples: an 8-bit gray PNG is half the size
    from PIL import Image
    Image.open(path).convert("L").save(path, optimize=True)
  return path


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--saved_model", required=True)
  parser.add_argument("--dataset", default="fashion_mnist")
  parser.add_argument("--image_size", type=int, default=32)
  parser.add_argument("--channels", type=int, default=1)
  parser.add_argument("--per_class", type=int, default=500, help="Samples per class.")
  parser.add_argument("--epochs", type=int, default=3, help="Classifier epochs.")
  parser.add_argument("--classifier_cache", default="",
                      help="A .keras file: loaded when it exists, else written after training.")
  parser.add_argument("--grid", default="")
  parser.add_argument("--out", default="")
  args = parser.parse_args()
  t0 = time.time()
  names = CLASS_NAMES[args.dataset]
  test_x, test_y = real_split(args.dataset, "test", args.image_size, args.channels)
  if args.classifier_cache and os.path.exists(args.classifier_cache):
    model = classifier.load(args.classifier_cache)
  else:
    train_x, train_y = real_split(args.dataset, "train", args.image_size, args.channels)
    model = classifier.train_classifier(train_x, train_y, len(names), epochs=args.epochs, seed=0)
    if args.classifier_cache:
      classifier.save(model, args.classifier_cache)
  real_acc = classifier.accuracy(model, test_x, test_y)
  gan = tf.saved_model.load(args.saved_model)
  per_class, confusion = [], np.zeros([len(names)] * 2, np.int64)
  for c in range(len(names)):
    fake = generate(gan, args.per_class, 1000 + c, c)  # seeds differ from the grid's
    predicted = classifier.predict_logits(model, fake).argmax(-1)
    per_class.append(float(np.mean(predicted == c)))
    np.add.at(confusion[c], predicted, 1)
  result = dict(real_test_accuracy=real_acc, fake_accuracy=float(np.mean(per_class)),
                per_class={n: round(a, 4) for n, a in zip(names, per_class)},
                confusion_rows_requested=confusion.tolist(), samples=args.per_class * len(names),
                seconds=round(time.time() - t0, 1))
  if args.grid:
    result["grid"] = save_grid(gan, names, args.grid)
  print(json.dumps(result, indent=1))
  if args.out:
    with open(args.out, "w") as f:
      json.dump(result, f, indent=1)


if __name__ == "__main__":
  main()
