"""Seeded latent noise shared by the exported `generate*` signatures, `sample` and `evaluate`,
so that `sample --seed=S` and a served `generate(num, S)` draw the same z (with --truncation=T,
`generate_truncated(num, S, T)`'s), and `evaluate --seed=S` scores it.

The seed S of a request is an int64 tensor inside the SavedModel, so it is no hashed word: it
is the second word of the stateless seed [derive(0, "sample_noise"), S] (seeds.py).

Plain z ~ N(0, 1). Truncated z (the truncation trick: BigGAN, Brock et al. 2019): N(0, 1)
conditioned on |z| <= t, elementwise, by the inverse CDF: u ~ U(0, 1) seeded,
z = ndtri(ndtr(-t) + u * (1 - 2 ndtr(-t))). Exact (no rejection loop, so the cost does not
grow as t shrinks), and one seed gives the same u at every t: a column of
`sample --mode=truncation` is one noise draw seen at several t. t in (0, inf]; t <= ~0.5
trades diversity for fidelity, t >= 3 is indistinguishable from no truncation.
"""

import tensorflow as tf

from dcgan_tf import seeds

# First word of the stateless seed of every request's z, in [0, 2**31).
STREAM = seeds.derive(0, "sample_noise")
# u in [EPS, 1 - EPS]: ndtri(0) = -inf. In float64 the bound keeps |z| <= 7.03 (ndtri(1e-12))
# when t = inf; every t below that is exact.
EPS = 1e-12


def normal(num, latent_dim: int, seed, truncation=None):
  """float32 [num, latent_dim]; seed int64 [] (any value); truncation None or float32 [] > 0."""
  seed = tf.stack([tf.constant(STREAM, tf.int64), tf.cast(seed, tf.int64)])
  shape = tf.stack([tf.cast(num, tf.int32), latent_dim])
  if truncation is None:
    return tf.random.stateless_normal(shape, seed=seed)
  # float64: in float32, u carries 24 bits, so u * (1 - 2 lo) loses the tails' resolution.
  u = tf.random.stateless_uniform(shape, seed=seed, minval=EPS, maxval=1 - EPS, dtype=tf.float64)
  t = tf.cast(truncation, tf.float64)  # exact: float32 -> float64
  low = 0.5 * tf.math.erfc(t / 2 ** 0.5)  # ndtr(-t): TensorFlow has ndtri but no ndtr
  z = tf.clip_by_value(tf.math.ndtri(low + u * (1 - 2 * low)), -t, t)  # clip: ndtri's rounding
  # Rounding to nearest is monotone and t is a float32: |z| <= t survives the cast.
  return tf.cast(z, tf.float32)
