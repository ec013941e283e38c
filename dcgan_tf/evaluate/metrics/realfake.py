"""Real-vs-fake test: can a small CNN tell generated images from real ones?

The CNN of classifier.py is trained on half of each set (label 1 = real, 0 =
generated) and scored on the other half. Held-out accuracy is in [0, 1]: 0.5 means
the generated images are indistinguishable to this classifier (the ideal), 1.0
means trivially separable. A weak probe: read it beside FID/SWD, not alone.
"""

import numpy as np

from dcgan_tf.evaluate import classifier
from dcgan_tf.errors import UserError


def real_vs_fake(real, fake, epochs=3, test_fraction=0.5, seed=0):
  """real, fake: float32 [N, S, S, C] in [-1, 1]. Returns dict(accuracy, train, test)."""
  n = min(len(real), len(fake))
  if n < 4:
    raise UserError(f"real-vs-fake needs at least 4 images per set, got {len(real)} and "
                    f"{len(fake)}", "num_samples")
  images = np.concatenate([np.asarray(real[:n], np.float32), np.asarray(fake[:n], np.float32)])
  labels = np.concatenate([np.ones(n, np.int32), np.zeros(n, np.int32)])
  order = np.random.default_rng(seed).permutation(2 * n)
  images, labels = images[order], labels[order]
  n_test = max(2, int(round(2 * n * test_fraction)))
  model = classifier.train_classifier(images[n_test:], labels[n_test:], 2, epochs=epochs,
                                      seed=seed, batch_size=64)
  return dict(accuracy=classifier.accuracy(model, images[:n_test], labels[:n_test]),
              train=int(2 * n - n_test), test=int(n_test))
