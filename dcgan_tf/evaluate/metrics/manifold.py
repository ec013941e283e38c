"""k-nearest-neighbour metrics on feature vectors: fidelity and diversity apart, and copying.

  precision, recall (Kynkaanniemi et al. 2019, k = 3): the share of generated samples inside
      the real manifold (the union of balls around each real feature reaching its k-th nearest
      real neighbour), and of real samples inside the generated one. 1 is ideal for both; a
      collapsed G keeps precision and loses recall.
  density, coverage (Naeem et al. 2020, k = 5): density = (1/k) * mean over fakes of the
      number of real balls containing them (~1 when fakes are distributed as reals; above 1
      when they crowd into dense regions, so it is not bounded by 1); coverage = the share of
      real balls holding at least one fake (robust to outliers; 1 is ideal).
  memorization: the share of samples nearer their nearest training feature than 95% of the
      training features are to their own nearest other training feature: d(x, NN_train(x)) <=
      q_0.05 of {d(t, NN_train\\{t}(t))}. A generator that draws new samples from the data
      distribution is flagged at the base rate 0.05 (its nearest-neighbour distances are
      distributed as a training image's leave-one-out ones); copies are flagged at 1. The
      per-sample comparison with the training set's own nearest-neighbour distances is
      Alaa et al. 2022's "authenticity" (How Faithful is your Synthetic Data?), here with one
      threshold so that the base rate is known.

The definitions and the strict "<" follow the reference code of Naeem et al. (the `prdc`
package): tests check equality with it. Distances are Euclidean, computed in float64 in
blocks of BLOCK rows: the peak is a few BLOCK x N float64 temporaries plus float64 copies of
the inputs (10,000 x 10,000: blocks of 80 MB; memorisation against 60,000 training features:
~0.5 GB per block).
"""

import numpy as np

BLOCK = 1024
PR_K, DC_K = 3, 5
MEMORIZATION_QUANTILE = 0.05


def _blocks(a, b):
  """Yields (start, distances [rows, len(b)]) over blocks of `a`'s rows, float64."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  b2 = np.sum(b * b, axis=1)
  for start in range(0, len(a), BLOCK):
    x = a[start:start + BLOCK]
    d2 = np.sum(x * x, axis=1)[:, None] + b2[None, :] - 2.0 * x @ b.T
    yield start, np.sqrt(np.maximum(d2, 0.0))


def kth_neighbour_distances(x, k: int) -> np.ndarray:
  """[N]: each row's distance to its k-th nearest other row (k >= 1; the row itself, at 0,
  is not counted). Needs N > k."""
  if len(x) <= k:
    raise ValueError(f"{len(x)} feature vectors: k = {k} nearest neighbours need more than {k}")
  out = np.empty(len(x))
  for start, d in _blocks(x, x):
    d[np.arange(len(d)), start + np.arange(len(d))] = -1.0  # self: sorted first, index 0
    out[start:start + len(d)] = np.partition(d, k, axis=1)[:, k]
  return out


def precision_recall(real, fake, k: int = PR_K) -> dict:
  real_r, fake_r = kth_neighbour_distances(real, k), kth_neighbour_distances(fake, k)
  in_real = np.concatenate([(d < real_r[None, :]).any(axis=1) for _, d in _blocks(fake, real)])
  in_fake = np.concatenate([(d < fake_r[None, :]).any(axis=1) for _, d in _blocks(real, fake)])
  return dict(precision=float(in_real.mean()), recall=float(in_fake.mean()))


def density_coverage(real, fake, k: int = DC_K) -> dict:
  real_r = kth_neighbour_distances(real, k)
  inside = np.concatenate([(d < real_r[None, :]).sum(axis=1) for _, d in _blocks(fake, real)])
  nearest_fake = np.concatenate([d.min(axis=1) for _, d in _blocks(real, fake)])
  return dict(density=float(inside.mean() / k), coverage=float((nearest_fake < real_r).mean()))


def prdc(real, fake) -> dict:
  """The four values: precision and recall at k = 3, density and coverage at k = 5."""
  return dict(precision_recall(real, fake), **density_coverage(real, fake),
              k=dict(precision_recall=PR_K, density_coverage=DC_K))


def nearest(reference, queries, n: int = 1):
  """(indices [Q, n], distances [Q, n]) of each query's n nearest reference rows, nearest
  first."""
  indices, distances = [], []
  for _, d in _blocks(queries, reference):
    k = min(n, d.shape[1])
    top = np.argpartition(d, k - 1, axis=1)[:, :k]  # the k smallest, in no order
    order = np.take_along_axis(d, top, axis=1).argsort(axis=1)
    top = np.take_along_axis(top, order, axis=1)
    indices.append(top)
    distances.append(np.take_along_axis(d, top, axis=1))
  return np.concatenate(indices), np.concatenate(distances)


def memorization(train, samples, quantile: float = MEMORIZATION_QUANTILE, own=None) -> dict:
  """The share of `samples` flagged as copies of `train` (module docstring), the threshold,
  and the base rate a fresh draw from the data distribution would score.

  own: kth_neighbour_distances(train, 1), when the caller has it (it costs N^2 distances).
  Exact duplicates inside `train` (distance 0) are left out of the quantile: with 5% of
  them the threshold would be 0 and copies would be flagged by rounding alone.
  """
  own = kth_neighbour_distances(train, 1) if own is None else own
  # A duplicate's distance is 0 up to the float64 expansion's rounding: sqrt(eps |x|^2), ~1e-8
  # of the norm; typical neighbour distances are ~1e6 times that.
  distinct = own[own > 1e-6 * np.median(own)]
  threshold = float(np.quantile(distinct, quantile)) if len(distinct) else 0.0
  distances = nearest(train, samples, 1)[1][:, 0]
  return dict(value=float(np.mean(distances <= threshold)), threshold=threshold,
              base_rate=quantile, median_nearest_distance=float(np.median(distances)),
              median_train_nearest_distance=float(np.median(own)),
              train_examples=len(train), samples=len(samples))
