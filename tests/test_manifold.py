"""metrics/manifold.py: precision, recall, density, coverage and memorisation, by known
answers and against the reference implementation (the `prdc` package of Naeem et al.)."""

import contextlib
import io

import numpy as np
import pytest

from dcgan_tf.evaluate.metrics import manifold


def _gaussian(n, dim=8, seed=0, shift=0.0, scale=1.0):
  return np.random.default_rng(seed).standard_normal((n, dim)) * scale + shift


def test_identical_sets_score_one_and_disjoint_clusters_zero():
  real = _gaussian(300)
  same = manifold.prdc(real, real)
  # Each real ball holds its own centre: precision = recall = coverage = 1. Each ball
  # holds its centre and the k - 1 nearer neighbours, so the fakes' mean count is k
  # (density 1), up to the k-th neighbour itself: its distance, computed twice in other
  # blocks, can round below the radius (measured: 1 of 1,500 counts, density 1.0007).
  assert (same["precision"], same["recall"], same["coverage"]) == (1.0, 1.0, 1.0)
  assert same["density"] == pytest.approx(1.0, abs=0.005)
  far = manifold.prdc(real, _gaussian(300, seed=1, shift=100.0))  # 100 sigma away
  assert far["precision"] == far["recall"] == far["density"] == far["coverage"] == 0.0


def test_a_collapsed_generator_keeps_precision_and_loses_recall():
  real = _gaussian(500)
  collapsed = np.repeat(real[:1], 500, 0) + 1e-6 * _gaussian(500, seed=2)
  values = manifold.prdc(real, collapsed)
  assert values["precision"] == 1.0  # every fake sits on a real point
  # Coverage: the balls holding real[0], i.e. the reals with real[0] among their 5 nearest
  # neighbours: 5 on average, more for a hub point (12 here); far from the 500 of a good G.
  # Recall: only reals within the fakes' radius (~1e-6, the jitter): real[0] itself.
  assert values["coverage"] < 0.05 and values["recall"] <= 1 / 500


@pytest.mark.parametrize("n_real, n_fake, scale", [(400, 400, 1.0), (350, 280, 0.7)])
def test_equals_the_prdc_package(n_real, n_fake, scale, monkeypatch):
  prdc = pytest.importorskip("prdc", reason="pip install prdc (requirements.txt)")
  monkeypatch.setattr(manifold, "BLOCK", 64)  # several blocks, a ragged last one
  real, fake = _gaussian(n_real, seed=3), _gaussian(n_fake, seed=4, shift=0.3, scale=scale)
  with contextlib.redirect_stdout(io.StringIO()):  # prdc prints the set sizes
    at3, at5 = prdc.compute_prdc(real, fake, 3), prdc.compute_prdc(real, fake, 5)
  ours = manifold.prdc(real, fake)
  # Both compute float64 distances by |a|^2 + |b|^2 - 2ab (sklearn's euclidean_distances
  # too): they differ by ~1e-15 relative, so a comparison flips only on a tie that close;
  # the shares are multiples of 1/N and agree exactly; density sums them (1e-6: rounding).
  assert ours["precision"] == pytest.approx(at3["precision"], abs=1e-6)
  assert ours["recall"] == pytest.approx(at3["recall"], abs=1e-6)
  assert ours["density"] == pytest.approx(at5["density"], abs=1e-6)
  assert ours["coverage"] == pytest.approx(at5["coverage"], abs=1e-6)
  assert 0 < ours["recall"] < 1 and 0 < ours["coverage"] < 1  # a case that can go wrong


def test_blocks_do_not_change_the_neighbours(monkeypatch):
  x, q = _gaussian(130, seed=5), _gaussian(40, seed=6)
  brute = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
  np.fill_diagonal(brute, np.inf)
  expected_k2 = np.sort(brute, axis=1)[:, 1]
  to_q = np.sqrt(((q[:, None] - x[None]) ** 2).sum(-1))
  for block in (7, 1024):
    monkeypatch.setattr(manifold, "BLOCK", block)
    # float64 by the expansion against the direct difference: ~1e-15 relative apart.
    np.testing.assert_allclose(manifold.kth_neighbour_distances(x, 2), expected_k2, rtol=1e-9)
    indices, distances = manifold.nearest(x, q, 3)
    np.testing.assert_array_equal(indices, np.argsort(to_q, axis=1)[:, :3])
    np.testing.assert_allclose(distances, np.sort(to_q, axis=1)[:, :3], rtol=1e-9)
  with pytest.raises(ValueError, match="need more than 3"):
    manifold.kth_neighbour_distances(x[:3], 3)


def test_memorization_flags_copies_and_not_fresh_draws():
  train, held_out = _gaussian(2000, seed=7), _gaussian(2000, seed=8)
  copies = train[np.random.default_rng(9).permutation(2000)]
  assert manifold.memorization(train, copies)["value"] == 1.0
  # Nearly-copies: a jitter far below the typical neighbour distance (~1 in 8 dimensions).
  assert manifold.memorization(train, copies + 1e-3 * _gaussian(2000, seed=10))["value"] == 1.0
  fresh = manifold.memorization(train, held_out)
  # A fresh draw is flagged at the base rate 0.05: binomial sd over 2,000 samples 0.005, and
  # leave-one-out among 1,999 against 2,000 neighbours shifts the rate by ~1/2000: 0.02 is
  # four sd.
  assert fresh["base_rate"] == 0.05 and fresh["value"] == pytest.approx(0.05, abs=0.02)
  assert fresh["threshold"] < fresh["median_train_nearest_distance"]


def test_memorization_threshold_ignores_duplicates_inside_the_training_set():
  """20% exact duplicates in the training set: their own nearest distance is 0, which would
  make the 5% quantile 0; the rule takes it over the distinct distances instead."""
  base = _gaussian(1600, seed=11)
  train = np.concatenate([base, base[:400]])
  values = manifold.memorization(train, train[::-1])
  assert values["threshold"] > 0 and values["value"] == 1.0
  fresh = manifold.memorization(train, _gaussian(2000, seed=12))
  # The duplicated 400 attract fresh draws no more than the others: the base rate, within
  # four binomial sd of 2,000 draws (0.02), as in the test above.
  assert fresh["value"] == pytest.approx(0.05, abs=0.02)
