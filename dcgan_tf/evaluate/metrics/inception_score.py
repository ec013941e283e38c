"""Inception Score (Salimans et al. 2016): exp(E_x KL(p(y|x) || p(y))), in [1, num_classes].

Computed on `splits` equal parts, as the original code did; returns (mean, std) over parts.
With logits of a classifier other than Inception the number is a "classifier score",
comparable only between runs that used the same classifier.
"""

import numpy as np


def _softmax(logits):
  z = logits - logits.max(axis=1, keepdims=True)
  e = np.exp(z)
  return e / e.sum(axis=1, keepdims=True)


def inception_score(logits, splits=10):
  """logits [N, K] -> (mean, std) of the score over min(splits, N) parts."""
  probs = _softmax(np.asarray(logits, np.float64))
  scores = []
  for part in np.array_split(probs, min(splits, len(probs))):
    marginal = part.mean(axis=0, keepdims=True)
    kl = np.sum(part * (np.log(part + 1e-12) - np.log(marginal + 1e-12)), axis=1)
    scores.append(np.exp(kl.mean()))
  return float(np.mean(scores)), float(np.std(scores))
