"""Kernel Inception Distance (Binkowski et al. 2018): unbiased MMD^2, cubic polynomial kernel.

k(x, y) = (x . y / D + 1)^3. Per subset of m vectors from each set:
MMD^2_u = sum_{i!=j} k(x_i, x_j) / (m(m-1)) + sum_{i!=j} k(y_i, y_j) / (m(m-1))
          - 2 sum_{i,j} k(x_i, y_j) / m^2.
Unbiased: its expectation is 0 for two samples of one distribution, so single
values can be slightly negative.
"""

import numpy as np


def polynomial_kernel(x, y, degree=3, coef0=1.0):
  return (x @ y.T / x.shape[1] + coef0) ** degree


def mmd2_unbiased(x, y) -> float:
  m = len(x)
  kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
  within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
  return float(within - 2 * kxy.mean())


def kid(features_a, features_b, num_subsets=100, subset_size=1000, seed=0):
  """Mean and std of MMD^2_u over random subsets. Returns (mean, std); subset_size >= 2."""
  a = np.asarray(features_a, np.float64)
  b = np.asarray(features_b, np.float64)
  m = min(subset_size, len(a), len(b))
  if m < 2:
    raise ValueError(f"KID needs at least 2 feature vectors per set, got {len(a)} and {len(b)}")
  rng = np.random.default_rng(seed)
  values = [mmd2_unbiased(a[rng.choice(len(a), m, replace=False)],
                          b[rng.choice(len(b), m, replace=False)]) for _ in range(num_subsets)]
  return float(np.mean(values)), float(np.std(values))
