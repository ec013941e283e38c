"""Weight initialisation: the papers' distributions, one random stream per layer.

Keras 3 initializers with an int seed return the same values on every call, and a
larger tensor starts with a smaller one's values: one seed shared by every layer
makes same-shape kernels identical (G's deconvs would equal D's convs) and gives
all kernels one random prefix. So every layer draws from its own seed, the "layers"
stream of the run's --seed split by the layer's path in the network
("generator/up1/deconv"; seeds.py):
  - same --seed, same weights (a run is reproducible from its config);
  - another --seed, other weights;
  - no two layers share values, in one network or across G and D;
  - a path, not a creation order: adding a layer leaves the others' weights alone.
"""

import keras

from dcgan_tf import seeds


def layer_seed(seed: int, path: str) -> int:
  """A seed in [0, 2**31) for the layer at `path` of a run seeded with `seed`."""
  return seeds.derive(seed, "layers", path)


class Seeds:
  """Initializers for the layers under one path prefix (a network, or a block of one)."""

  def __init__(self, seed: int, scope: str):
    self.seed, self.scope = int(seed), scope

  def child(self, name: str) -> "Seeds":
    return Seeds(self.seed, f"{self.scope}/{name}")

  def __call__(self, name: str) -> int:
    return layer_seed(self.seed, f"{self.scope}/{name}")

  def normal(self, name: str, mean: float = 0.0, stddev: float = 0.02):
    """N(mean, stddev): DCGAN's weights are N(0, 0.02), its batch-norm gammas N(1, 0.02)."""
    return keras.initializers.RandomNormal(mean, stddev, seed=self(name))

  def uniform(self, name: str, scale: float):
    """U(-scale, scale): the fully connected GAN of Goodfellow et al. (2014)."""
    return keras.initializers.RandomUniform(-scale, scale, seed=self(name))
