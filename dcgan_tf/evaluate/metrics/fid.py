"""Frechet distance between two Gaussians fitted to feature sets (FID, Heusel et al. 2017).

d^2 = |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)).
tr((S1 S2)^(1/2)) is computed as the sum of square roots of the eigenvalues of the
symmetric PSD matrix S1^(1/2) S2 S1^(1/2) (same eigenvalues as S1 S2), so the result
is real and needs no complex sqrtm or epsilon retries.
"""

import numpy as np


def statistics(features):
  """features [N, D] -> (mean [D], covariance [D, D]), float64; N >= 2."""
  features = np.asarray(features, np.float64)
  if features.ndim != 2 or len(features) < 2:
    raise ValueError(f"FID needs at least 2 feature vectors [N, D], got shape {features.shape}")
  return features.mean(axis=0), np.cov(features, rowvar=False)


def _psd_sqrt(matrix):
  w, v = np.linalg.eigh((matrix + matrix.T) / 2)
  return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
  """Squared Frechet distance between N(mu1, sigma1) and N(mu2, sigma2); >= 0."""
  mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
  sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
  if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
    raise ValueError(f"FID: feature statistics differ in shape: {mu1.shape}/{sigma1.shape} vs "
                     f"{mu2.shape}/{sigma2.shape}")
  root1 = _psd_sqrt(sigma1)
  eig = np.linalg.eigvalsh(root1 @ sigma2 @ root1)
  trace_sqrt = np.sum(np.sqrt(np.clip(eig, 0, None)))
  diff = mu1 - mu2
  value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt
  return float(max(value, 0.0))  # rounding can give -1e-12 for identical sets


def fid(features_a, features_b) -> float:
  """FID between two feature sets [Na, D], [Nb, D]."""
  return frechet_distance(*statistics(features_a), *statistics(features_b))
