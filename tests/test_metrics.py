"""Metrics against known answers: FID's closed form, KID's unbiasedness, SWD's ordering,
the DCGAN SVM protocol on digits, real-vs-fake, and the feature extractors' code paths."""

import numpy as np
import pytest
from scipy import linalg

from conftest import CLASSIFIER_GROUP, tiny, trusted_classifier
from dcgan_tf.errors import UserError
from dcgan_tf.evaluate.metrics import fid, inception_score, kid, swd, svm
from dcgan_tf.evaluate import options as eval_options


def _random_spd(rng, d):
  a = rng.standard_normal((d, d))
  return a @ a.T / d + 0.1 * np.eye(d)


# ------------------------------------------------------------------------- FID

def test_fid_of_a_set_against_itself_is_zero():
  features = np.random.default_rng(0).standard_normal((400, 32))
  # float64: tr(S) + tr(S) - 2 sum sqrt(eig(S^1/2 S S^1/2)), eigenvalues O(1) and each off
  # by ~d eps |S| (d = 32): ~1e-13 in all (measured 1.4e-14); 1e-6 holds for any LAPACK.
  assert abs(fid.fid(features, features)) < 1e-6


def test_frechet_distance_matches_the_closed_form_for_any_covariances():
  rng = np.random.default_rng(1)
  mu1, mu2 = rng.standard_normal(6), rng.standard_normal(6)
  s1, s2 = _random_spd(rng, 6), _random_spd(rng, 6)  # non-commuting
  expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * linalg.sqrtm(s1 @ s2).real)
  # Two backward-stable float64 routes (eigh of S1^1/2 S2 S1^1/2, Schur sqrtm of S1 S2):
  # ~cond x eps apart, cond <= 1e2 for these 6 x 6 matrices (+ 0.1 I): ~1e-14, measured
  # 1.3e-16. rel 1e-6 is far above; a wrong formula is off by O(1).
  assert fid.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-6)


def test_fid_of_two_gaussian_samples_is_within_one_percent_of_the_closed_form():
  rng = np.random.default_rng(2)
  d, n = 4, 100_000
  mu1, mu2 = np.zeros(d), np.array([1.0, -2.0, 0.5, 1.5])
  var1, var2 = np.array([1.0, 2.0, 0.5, 1.0]), np.array([4.0, 1.0, 1.0, 0.25])
  a = mu1 + rng.standard_normal((n, d)) * np.sqrt(var1)
  b = mu2 + rng.standard_normal((n, d)) * np.sqrt(var2)
  # Diagonal covariances: tr((S1 S2)^1/2) = sum sqrt(v1 v2).
  closed = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(var1) - np.sqrt(var2)) ** 2)
  # Sampling, not rounding: the mean term's standard error is 2 sqrt(sum (mu2 - mu1)^2
  # (var1 + var2) / n) = 0.028, 0.3% of 9.0 (the covariance terms' is smaller): 1% is
  # 3 s.e. (measured 0.43%).
  assert fid.fid(a, b) == pytest.approx(closed, rel=0.01)


def test_fid_rejects_mismatched_features():
  with pytest.raises(ValueError, match="FID"):
    fid.fid(np.zeros((5, 3)), np.zeros((5, 4)))


# ------------------------------------------------------------------------- KID

def test_kid_on_identical_sets_is_about_zero():
  features = np.random.default_rng(3).standard_normal((1000, 16))
  mean, _ = kid.kid(features, features, num_subsets=2, subset_size=1000)
  # The cross term counts the pairs (x_i, x_i) that the within terms leave out: slightly
  # negative, O(1/m), far below a real difference (test_kid_grows_with_the_distribution_shift).
  assert -0.02 < mean <= 0


def test_kid_is_unbiased_where_the_plain_mmd_is_not():
  rng = np.random.default_rng(4)
  m, draws = 16, 300
  unbiased, biased = [], []
  for _ in range(draws):
    x, y = rng.standard_normal((m, 8)), rng.standard_normal((m, 8))
    unbiased.append(kid.mmd2_unbiased(x, y))
    kxx, kyy = kid.polynomial_kernel(x, x), kid.polynomial_kernel(y, y)
    biased.append(kxx.mean() + kyy.mean() - 2 * kid.polynomial_kernel(x, y).mean())
  stderr = np.std(unbiased) / np.sqrt(draws)
  assert abs(np.mean(unbiased)) < 3 * stderr  # expectation 0 for one distribution
  assert np.mean(biased) > 10 * stderr  # the V-statistic is biased upwards
  assert min(unbiased) < 0  # single values can be negative


def test_kid_grows_with_the_distribution_shift():
  rng = np.random.default_rng(5)
  a, b = rng.standard_normal((200, 8)), rng.standard_normal((200, 8))
  same, _ = kid.kid(a, b, num_subsets=20, subset_size=100)
  shifted, _ = kid.kid(a, b + 1.0, num_subsets=20, subset_size=100)
  assert shifted > 0.1 > abs(same)


# -------------------------------------------------------------- Inception Score

def test_inception_score_bounds():
  # Uniform predictions: p(y|x) = p(y), so the KL is 0 up to float64 rounding (4e-16).
  assert inception_score.inception_score(np.zeros((100, 10)))[0] == pytest.approx(1.0)
  confident = np.eye(10)[np.arange(100) % 10] * 50.0  # sure of its class, classes balanced
  # exp(log 10), less the 1e-12 guard inside the logs (-9e-11) and e^-50 off the class:
  # rel 1e-3 is far above both, and a wrong score is off by O(1).
  assert inception_score.inception_score(confident, splits=1)[0] == pytest.approx(10.0, rel=1e-3)


# ------------------------------------------------------------------------- SWD

def _blobs(rng, n, size=32, sigma=2.0):
  from scipy import ndimage
  noise = rng.standard_normal((n, size, size, 1))
  return np.tanh(5 * ndimage.gaussian_filter(noise, (0, sigma, sigma, 0))).astype(np.float32)


def test_swd_is_smaller_for_the_same_distribution():
  rng = np.random.default_rng(6)
  kw = dict(patches_per_image=16, dir_repeats=2, dirs_per_repeat=64)
  a, b = _blobs(rng, 200), _blobs(rng, 200)
  noise = rng.uniform(-1, 1, (200, 32, 32, 1)).astype(np.float32)
  smoother = _blobs(rng, 200, sigma=4.0)
  same = swd.swd(a, b, **kw)
  assert sorted(same["levels"]) == [16, 32]
  for other in (noise, smoother):
    different = swd.swd(a, other, **kw)
    assert different["mean"] > 2 * same["mean"]
    assert all(different["levels"][k] > same["levels"][k] for k in same["levels"])


def test_swd_levels_follow_the_image_size():
  assert [swd.num_levels(s) for s in (8, 16, 32, 64, 128)] == [1, 1, 2, 3, 4]
  pyramid = swd.laplacian_pyramid(np.ones((2, 32, 32, 3), np.float32), 2)
  assert [p.shape for p in pyramid] == [(2, 32, 32, 3), (2, 16, 16, 3)]
  # A flat image has no detail, exactly: blurring ones (or the upsampled ones, mirror
  # borders included) adds binomial weights k / 256 to 1 or 1/4 with no rounding.
  np.testing.assert_array_equal(pyramid[0], 0)


# ------------------------------------------------------------------------- SVM

def test_adaptive_max_pool_gives_a_4x4_grid_from_any_size():
  x = np.arange(2 * 8 * 8 * 3, dtype=np.float32).reshape(2, 8, 8, 3)
  pooled = svm.adaptive_max_pool(x)
  assert pooled.shape == (2, 4, 4, 3)
  assert np.array_equal(pooled, x.reshape(2, 4, 2, 4, 2, 3).max(axis=(2, 4)))  # max: exact
  assert svm.adaptive_max_pool(np.ones((1, 3, 5, 2))).shape == (1, 4, 4, 2)


def test_svm_protocol_on_digits_beats_chance_by_far():
  from dcgan_tf import models
  from dcgan_tf.evaluate import context
  config = tiny()
  _, d = models.build_models(config)
  options = eval_options.Options(svm_train_examples=600, svm_test_examples=600)
  train, test, num_classes = context.svm_data(config, options)
  assert num_classes == 10 and train[0].shape[1:] == (32, 32, 1) and len(test[1]) == 600
  rows = svm.protocol(d, train, test, layers="all")
  by_method = {r["method"]: r for r in rows}
  d_row = rows[0]
  # Even an untrained D's pooled features separate digits linearly (10% is chance).
  assert d_row["accuracy"] > 0.6, svm.format_table(rows, 10)
  assert d_row["dims"] == 16 * (8 + 16 + 32)  # 4x4 from each of the three conv layers
  assert by_method["LinearSVC on raw pixels"]["accuracy"] > 0.6
  last = svm.d_features(d, test[0][:5], layers="last")
  assert last.shape == (5, 16 * 32)
  table = svm.format_table(rows, 10, 600, 600)
  assert "chance" in table and "raw pixels" in table


# ------------------------------------------------------------------ real vs fake

def test_real_vs_fake_separates_noise_from_digits():
  from dcgan_tf.evaluate import context
  from dcgan_tf.evaluate.metrics import realfake
  real = context.load_images(tiny(), 200, seed=0)[0]
  fake = np.random.default_rng(7).uniform(-1, 1, real.shape).astype(np.float32)
  result = realfake.real_vs_fake(real, fake, epochs=2)
  assert result["accuracy"] > 0.9 and result["test"] == 200


# ------------------------------------------------------------------ extractors

@CLASSIFIER_GROUP
def test_classifier_learns_digits_and_exposes_features(classifier_cache, tmp_path):
  from dcgan_tf.evaluate import classifier, context
  # 12 epochs on 1,618 digits: held-out accuracy ~0.95 (5 epochs gave 0.88 to 0.95 over six
  # image orders, 3 epochs 0.74 to 0.88), so 0.8 does not hang on the order.
  model, info = trusted_classifier(classifier_cache)
  assert info["held_out_accuracy"] > 0.8 and info["train_examples"] == 1797 - 179
  images, labels, _ = context.load_images(tiny(image_size=32), 300, seed=5)
  assert classifier.accuracy(model, images, labels) > 0.8  # mostly seen digits: > held out
  path = classifier.save(model, str(tmp_path / "c.keras"))
  features, logits = classifier.feature_model(classifier.load(path))(images[:3])
  assert features.shape == (3, 128) and logits.shape == (3, 10)
  assert np.min(features) >= 0  # ReLU features


def test_missing_inception_weights_say_how_to_get_them(tmp_path, monkeypatch):
  from dcgan_tf.evaluate.metrics import extractors
  monkeypatch.setenv("KERAS_HOME", str(tmp_path))
  with pytest.raises(UserError, match="^inception_weights: .*not comparable"):
    extractors.inception("")
  with pytest.raises(UserError, match="^inception_weights: no file"):
    extractors.inception(str(tmp_path / "missing.pb"))


def test_graphdef_inception_code_path(tmp_path):
  """A stand-in graph with the 2015 graph's tensor names: batch 1 baked into the input."""
  import tensorflow as tf
  from dcgan_tf.evaluate.metrics import extractors
  graph = tf.Graph()
  with graph.as_default():
    x = tf.compat.v1.placeholder(tf.float32, [1, None, None, 3], name="ExpandDims")
    pooled = tf.reduce_mean(x, axis=[1, 2], keepdims=True)  # [B, 1, 1, 3]
    tf.tile(pooled, [1, 1, 1, 4], name="pool_3")  # [B, 1, 1, 12] stands in for 2048
    tf.constant(np.ones((12, 5), np.float32), name="softmax/weights")
    tf.constant(np.arange(5, dtype=np.float32), name="softmax/biases")
  path = tmp_path / "classify_image_graph_def.pb"
  path.write_bytes(graph.as_graph_def().SerializeToString())
  extractor = extractors.inception(str(path), batch_size=4)
  images = np.full((6, 16, 16, 1), 1.0, np.float32)  # white: 255 in the graph's range
  features, logits = extractor(images)
  # Integers below 2^24 (255 averaged, 12 x 255 + bias): exact in float32, as allclose's
  # default rtol 1e-5 asks and more.
  assert features.shape == (6, 12) and np.allclose(features, 255.0)
  assert np.allclose(logits, 12 * 255.0 + np.arange(5))
  assert "standard" in extractor.name
