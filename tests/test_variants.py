"""The variants (gan, dcgan, cdcgan, cdcgan_projection, sngan) and the options every variant has.

gan: no convolutions, maxout D with dropout. sngan: spectral norm on every D layer,
no batch norm in D, D called once on real+fake; kernels' spectral norm ~1 after
training. cdcgan: labels change G's output and D's input; the L1 term; unlabelled
data as one class. cdcgan_projection: per-class batch-norm gain and bias in G, D's logit
plus <V[y], phi(x)> on a known case. Options: optimizer per network, label smoothing, k D steps.
User errors are UserErrors naming the field (the entry points print it as its flag).
"""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from conftest import tiny, tiny_gan as _gan
from dcgan_tf.errors import UserError
from dcgan_tf import config as config_lib
from dcgan_tf import data, models
from dcgan_tf.models import mlp


def _layers(model, cls):
  return [l for l in model._flatten_layers(include_self=False) if isinstance(l, cls)]


def _count_d_calls(gan):
  """Wraps D's call to count calls (eager only); returns the counter list."""
  calls, call = [], gan.discriminator.call

  def counted(images, labels=None, training=False):
    calls.append(int(images.shape[0]))
    return call(images, labels, training=training)

  gan.discriminator.call = counted
  return calls


# ------------------------------------------------------------------------ gan

def test_gan_variant_is_fully_connected_maxout_with_dropout():
  g, d = models.build_models(tiny(variant="gan", mlp_units=60, maxout_pieces=5))
  for model in (g, d):
    convs = [l.name for l in model._flatten_layers() if "conv" in type(l).__name__.lower()]
    assert not convs, f"{model.name} has convolution layers {convs}"
  assert isinstance(g, mlp.Generator) and isinstance(d, mlp.Discriminator)
  assert [l.units for l in _layers(g, layers.Dense)] == [60, 60, 32 * 32 * 1]
  maxouts = _layers(d, mlp.Maxout)
  assert [(m.units, m.pieces) for m in maxouts] == [(12, 5), (12, 5)]
  assert [l.rate for l in _layers(d, layers.Dropout)] == [0.2, 0.5, 0.5]  # Goodfellow's
  z = np.random.default_rng(0).normal(size=[4, 16]).astype(np.float32) * 5
  images = g(z).numpy()
  assert images.shape == (4, 32, 32, 1) and -1 <= images.min() <= images.max() <= 1
  logits = [d(images, training=t).numpy() for t in (False, False, True)]
  assert logits[0].shape == (4,)
  # Bit for bit: the same matmuls on the same inputs and device (dropout off at inference).
  np.testing.assert_array_equal(logits[0], logits[1])
  assert not np.array_equal(logits[0], logits[2])  # and on in training


def test_gan_variant_trains_with_one_d_call_per_update():
  gan, batch = _gan(variant="gan", mlp_units=60)
  assert gan.joint_d_batch  # no batch norm in the MLP D
  calls = _count_d_calls(gan)
  trained = gan.generator.trainable_variables + gan.discriminator.trainable_variables
  before = [v.numpy().copy() for v in trained]
  logs = gan.train_step(batch)
  assert calls == [32, 16]  # D update on real+fake together, then G's loss on fake
  assert all(np.isfinite(v.numpy()).all() for v in logs.values())
  assert all(not np.array_equal(b, v.numpy()) for b, v in zip(before, trained))


# ---------------------------------------------------------------------- sngan

def test_sngan_discriminator_kernels_have_spectral_norm_one():
  gan, _ = _gan(variant="sngan", batch_size=16)
  d = gan.discriminator
  sn = _layers(d, layers.SpectralNormalization)
  convs = [l for l in _layers(d, layers.Conv2D)]
  assert not _layers(d, layers.BatchNormalization), "sngan's D has no batch norm"
  assert len(sn) == len(convs) == 4 and all(isinstance(s.layer, layers.Conv2D) for s in sn)
  assert _layers(gan.generator, layers.BatchNormalization), "G keeps its batch norm"
  assert gan.joint_d_batch
  dataset, _ = data.make_dataset(tiny(variant="sngan", batch_size=16))
  gan.fit(dataset, epochs=1, steps_per_epoch=20, verbose=0)  # sigma starts at ~1.3
  for layer in sn:
    # The kernel the next training call applies: the current kernel divided by the
    # power-iteration estimate of its largest singular value.
    _, kernel = layer.normalized_weights()
    matrix = np.reshape(kernel.numpy(), [-1, kernel.shape[-1]])  # [k*k*in, out]
    sigma = np.linalg.svd(matrix, compute_uv=False)[0]
    # Convergence, not rounding: one power iteration per step, each shrinking the
    # estimate's error by (sigma_2 / sigma_1)^2 while Adam moves the kernel by ~lr per
    # element: 1 to 1.6% off after 5 steps, <= 1e-4 after 20 (measured). 0.05 = 500x.
    assert abs(sigma - 1.0) < 0.05, f"{layer.name}: spectral norm {sigma:.3f}"


def test_sngan_calls_d_once_per_update_and_dcgan_twice():
  for variant, expected in (("sngan", [32]), ("dcgan", [16, 16])):
    gan, (real, labels) = _gan(variant=variant)
    calls = _count_d_calls(gan)
    fake = gan.generator(tf.random.normal([16, gan.latent_dim]), training=True)
    gan._d_update(real, labels, fake, 16)
    assert calls == expected, variant


# --------------------------------------------------------------------- cdcgan

def test_cdcgan_labels_condition_both_networks():
  config = tiny(variant="cdcgan", num_classes=10, embedding_dim=5)
  g, d = models.build_models(config)
  first_conv = _layers(d, layers.Conv2D)[0]
  assert first_conv.kernel.shape[2] == 1 + 5  # image channels + label maps
  z = np.random.default_rng(0).normal(size=[2, 16]).astype(np.float32)
  a = g(z, np.array([0, 0])).numpy()
  b = g(z, np.array([3, 3])).numpy()
  assert a.shape == (2, 32, 32, 1) and not np.allclose(a, b)
  assert not np.allclose(d(a, np.array([0, 0])).numpy(), d(a, np.array([3, 3])).numpy())


def test_cdcgan_reconstruction_term_adds_weighted_l1_to_g_loss(request):
  # The two runs' float32 convolutions in float32 on any device: with TF32 (Ampere GPUs)
  # another cuDNN algorithm for the second GAN could differ by ~1e-3, not float32 rounding.
  tf32 = tf.config.experimental.tensor_float_32_execution_enabled()
  tf.config.experimental.enable_tensor_float_32_execution(False)
  request.addfinalizer(lambda: tf.config.experimental.enable_tensor_float_32_execution(tf32))
  logs = {}
  for weight in (0.0, 5.0):
    gan, batch = _gan(variant="cdcgan", num_classes=10, embedding_dim=5, recon_weight=weight)
    assert gan.generator.num_classes and not gan.joint_d_batch  # BN in D: separate real / fake
    logs[weight] = {k: float(v[0]) for k, v in gan.train_step(batch).items()}
  # Same weights, data and noise: the D update is identical; G's loss gains 5 * L1.
  # d_loss: the same ops on the same inputs, bit for bit on a CPU; rel 1e-5 is for a GPU
  # (another cuDNN algorithm: float32 sums in another order, ~1e-7 per conv, 4 convs).
  assert logs[5.0]["d_loss"] == pytest.approx(logs[0.0]["d_loss"], rel=1e-5)
  assert "recon_l1" not in logs[0.0] and 0 < logs[5.0]["recon_l1"] <= 2
  # g_loss(5) = fl(adv + fl(5 l1)) with the same adv as g_loss(0): off from 5 l1 by two
  # roundings, <= u (|g_loss| + 5 l1) = 4.6e-7 here (u = 2^-24; rel 1.3e-7, measured 3e-8),
  # plus on a GPU adv's own difference (as d_loss's, <= 1e-5 x 0.7); rel 1e-4 covers both.
  assert logs[5.0]["g_loss"] - logs[0.0]["g_loss"] == pytest.approx(
      5.0 * logs[5.0]["recon_l1"], rel=1e-4)


def test_cdcgan_unlabelled_data_is_one_class():
  config = tiny(variant="cdcgan")
  assert config_lib.resolve_classes(config, 0).num_classes == 1
  assert config_lib.resolve_classes(config, 7).num_classes == 7  # 0: from the dataset
  assert config_lib.resolve_classes(tiny(variant="dcgan", num_classes=5), 7).num_classes == 0
  gan, (real, _) = _gan(variant="cdcgan")  # resolved as unlabelled data: one class
  assert gan.generator.num_classes == gan.discriminator.num_classes == 1
  logs = gan.train_step((real, tf.zeros([16], tf.int32)))  # what an unlabelled source gives
  assert np.isfinite(float(logs["g_loss"][0]))



# ---------------------------------------------------------- cdcgan_projection

def test_projection_logit_is_the_linear_head_plus_the_class_embedding_dot_features(request):
  # The embedding is a matmul on one-hot labels: with TF32 (Ampere GPUs) V's rows would be
  # rounded to 10-bit mantissas (5e-4 relative), above the float32 bound below.
  tf32 = tf.config.experimental.tensor_float_32_execution_enabled()
  tf.config.experimental.enable_tensor_float_32_execution(False)
  request.addfinalizer(lambda: tf.config.experimental.enable_tensor_float_32_execution(tf32))
  config = config_lib.resolve_classes(tiny(variant="cdcgan_projection"), 10)
  d = models.build_discriminator(config)
  assert not _layers(d, layers.BatchNormalization) and d.label_embedding is None
  sn = _layers(d, layers.SpectralNormalization)
  assert len(sn) == 5 and sn[-1].layer is d.embed.layer  # 4 convs and the embedding
  images = np.random.default_rng(1).uniform(-1, 1, [4, 32, 32, 1]).astype(np.float32)
  labels = np.array([0, 3, 3, 9])
  h = d.features(images, labels)[-1].numpy().astype(np.float64)  # [4, 4, 4, 16]: labels unused
  head = d.to_logit(h.astype(np.float32)).numpy().reshape(-1)
  v = d.embed.layer.kernel.numpy().astype(np.float64)  # V [classes, channels]
  expected = head + np.einsum("bc,bc->b", v[labels], h.sum(axis=(1, 2)))
  logits = d(images, labels).numpy()
  # float32 against float64 for the projection: 4 x 4 x 16 features summed (~64 ulps of
  # the |sum| at worst, ~1e-6 relative) times V; the head is the same float32 op. 1e-4 of
  # the logits' scale (~1e-2) with atol for logits near 0.
  np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-7)
  other = d(images, np.array([1, 1, 1, 1])).numpy()
  np.testing.assert_allclose(logits - other, np.einsum(
      "bc,bc->b", v[labels] - v[[1, 1, 1, 1]], h.sum(axis=(1, 2))), rtol=1e-4, atol=1e-7)


def test_projection_generator_batch_norms_take_per_class_gain_and_bias():
  from dcgan_tf.models.layers import ConditionalBatchNorm
  config = config_lib.resolve_classes(tiny(variant="cdcgan_projection"), 10)
  g = models.build_generator(config)
  cbns = _layers(g, ConditionalBatchNorm)
  assert g.label_embedding is None and len(cbns) == len(g.blocks) == 3
  cbn = cbns[0]
  rng = np.random.default_rng(2)
  cbn.gamma.embeddings.assign(rng.normal(1, 0.5, cbn.gamma.embeddings.shape))
  cbn.beta.embeddings.assign(rng.normal(0, 0.5, cbn.beta.embeddings.shape))
  x = rng.normal(size=[6, 4, 4, cbn.gamma.embeddings.shape[1]]).astype(np.float32)
  labels = np.array([0, 1, 2, 2, 5, 9])
  out = cbn(x, labels, training=True).numpy()
  mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
  gamma, beta = cbn.gamma.embeddings.numpy()[labels], cbn.beta.embeddings.numpy()[labels]
  expected = ((x - mean) / np.sqrt(var + 1e-5)) * gamma[:, None, None] + beta[:, None, None]
  # float32 batch norm against numpy's float32 mean/variance of 96 values per channel:
  # a few ulps of values ~1-3; atol 1e-5 = ~40 ulps at 2.
  np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
  z = rng.normal(size=[2, 16]).astype(np.float32)
  assert not np.allclose(g(z, np.array([0, 0])).numpy(), g(z, np.array([3, 3])).numpy())


@pytest.mark.parametrize("variant", ["gan", "dcgan", "sngan"])
def test_unconditional_variants_take_no_classes(variant):
  """Only the conditional variants' networks take labels: any other variant resolves to 0 classes, whatever
  num_classes says, or its builders would refuse the config."""
  config = config_lib.resolve_classes(tiny(variant=variant, num_classes=5), 7)
  assert config.num_classes == 0


# -------------------------------------------------------------------- options

def test_optimizer_per_network_with_its_settings():
  gan, batch = _gan(g_optimizer="adam", d_optimizer="rmsprop", g_lr=1e-3, d_lr=5e-4,
                    beta_1=0.4, beta_2=0.95)
  g_opt, d_opt = gan.g_optimizer, gan.d_optimizer
  assert isinstance(g_opt, keras.optimizers.Adam) and isinstance(d_opt, keras.optimizers.RMSprop)
  # float32 variables: within u = 6e-8 relative of the float64 value, under approx's 1e-6.
  assert float(g_opt.learning_rate) == pytest.approx(1e-3)
  assert float(d_opt.learning_rate) == pytest.approx(5e-4)
  assert (g_opt.beta_1, g_opt.beta_2) == (0.4, 0.95)
  gan.train_step(batch)
  assert int(g_opt.iterations.numpy()) == int(d_opt.iterations.numpy()) == 1


def test_label_smoothing_sets_the_real_target():
  gan, (real, labels) = _gan(label_smoothing=0.2)
  fake = gan.generator(tf.random.normal([16, gan.latent_dim]), training=True)
  d_loss, real_logits, fake_logits = gan._d_update(real, labels, fake, 16)
  r, f = real_logits.numpy().astype(np.float64), fake_logits.numpy().astype(np.float64)
  # BCE(logit, target) = softplus(logit) - target * logit; real target 1 - 0.2.
  expected = np.mean(np.logaddexp(0, r) - 0.8 * r) + np.mean(np.logaddexp(0, f))
  # The same float32 logits, their loss in float32 against float64: each term comes from
  # ~5 ops on values <= 1 (|logits| <= 0.67 here) and is >= 0.4 (a real one >= 0.5, its
  # minimum at logit ln 4), so a few u off; the 2 x 16 positive terms summed add <= 31 u:
  # ~3e-6 in all (measured 1e-7), and no matmul is involved. rel 1e-5 is 3x.
  assert float(d_loss) == pytest.approx(expected, rel=1e-5)


def test_k_discriminator_steps_with_joint_batches():
  gan, batch = _gan(variant="sngan", d_steps=3)
  calls = _count_d_calls(gan)
  gan.train_step(batch)
  assert calls == [32, 32, 32, 16]  # three D updates on real+fake, then G's loss
  assert int(gan.d_optimizer.iterations.numpy()) == 3
  assert int(gan.g_optimizer.iterations.numpy()) == 1


# ---------------------------------------------------------------- user errors

@pytest.mark.parametrize("overrides,field,valid", [
    (dict(variant="wgan"), "variant", "gan, dcgan, cdcgan, cdcgan_projection, sngan"),
    (dict(variant="dcgan", recon_weight=5.0), "recon_weight", "conditional"),
    (dict(variant="gan", mlp_units=1024, maxout_pieces=5), "mlp_units", "multiple"),
    (dict(g_optimizer="sgd"), "g_optimizer", "adam, rmsprop"),
    (dict(maxout_pieces=0), "maxout_pieces", ">= 1"),
])
def test_bad_variant_settings_are_user_errors(overrides, field, valid):
  with pytest.raises(UserError, match=f"^{field}: ") as error:
    config_lib.validate(tiny(**overrides))
  message = str(error.value)
  assert error.value.field == field and valid in message and "\n" not in message


def test_num_classes_must_match_a_labelled_dataset():
  with pytest.raises(UserError, match="^num_classes: 3 does not match the 10 classes") as error:
    config_lib.resolve_classes(tiny(variant="cdcgan", num_classes=3), 10)
  assert error.value.as_flag().startswith("--num_classes: 3 does not match")
  with pytest.raises(UserError, match="^variant: got 'wgan'; valid: gan, dcgan"):
    models.build_models(tiny(variant="wgan"))


def test_builders_take_the_class_count_of_a_resolved_config():
  """config.num_classes is the networks' one source: an unresolved config is a bug that
  would build networks of the wrong shape."""
  with pytest.raises(ValueError, match="resolve_classes"):
    models.build_generator(tiny(variant="cdcgan"))
  with pytest.raises(ValueError, match="resolve_classes"):
    models.build_discriminator(tiny(variant="dcgan", num_classes=5))


# ------------------------------------------------------------------ through the CLI

# dcgan, the default every other test trains, goes through the same path in test_resume
# (resume), test_layout (a whole CLI-like run that exports) and test_export / test_sample;
# cdcgan through test_export_conditional, test_evaluate and test_sample.
@pytest.mark.heavy
@pytest.mark.parametrize("variant", ["gan", "cdcgan_projection", "sngan"])
def test_variant_trains_resumes_exports_and_samples_through_the_cli(variant, tmp_path):
  """Two steps with checkpoints (in-process, the library the CLI calls), then
  `python -m dcgan_tf.train --variant=V` resumes to 3 and exports; the export serves and
  `sample` draws from the checkpoint."""
  from conftest import run_module, tiny_flags
  from dcgan_tf.sample import options as sample_options
  from dcgan_tf.sample import pictures
  from dcgan_tf.train import loop
  workdir = str(tmp_path / "run")
  options = dict(variant=variant, checkpoint_every=1, mlp_units=60, maxout_pieces=5)
  first = loop.train(tiny(train_steps=2, **options), workdir)
  assert first["step"] == 2 and not os.path.exists(os.path.join(workdir, "saved_model"))
  second = run_module("dcgan_tf.train", f"--workdir={workdir}", *tiny_flags(**options),
                      "--train_steps=3", "--export=true")
  assert second.returncode == 0, second.stderr[-3000:]
  assert "Resumed from" in second.stderr and "ckpt-2 at step 2 of 3" in second.stderr
  assert "Trained to step 3" in second.stdout
  served = tf.saved_model.load(os.path.join(workdir, "saved_model"))
  signature = served.signatures["generate"]
  extra = {"label": tf.constant(1)} if variant == "cdcgan_projection" else {}
  images = signature(num=tf.constant(2), seed=tf.constant(0, tf.int64), **extra)["images"]
  assert images.dtype == tf.uint8 and images.shape == (2, 32, 32, 1)
  summary = pictures.make_picture(sample_options.SampleOptions(
      workdir=workdir, mode="grid", out=str(tmp_path / "grid.png"), num=4))
  assert summary["step"] == 3 and summary["shape"] == [70, 70, 1]
