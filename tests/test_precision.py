"""Mixed precision: float16 and bfloat16 steps on CPU, float32 variables and outputs, loss scaling."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import tiny, tiny_gan
from dcgan_tf import data, devices, models
from dcgan_tf.gan import GAN


@pytest.fixture(autouse=True)
def float32_policy():
  """Keras' dtype policy is global: every test here leaves it at float32."""
  yield
  keras.mixed_precision.set_dtype_policy("float32")


def _gan(precision, **kw):
  gan, batch = tiny_gan(precision=precision, **kw)
  return gan, tiny(precision=precision, **kw), batch


def _finite_logs(logs):
  return all(np.isfinite(np.asarray(v)).all() for v in logs.values())


@pytest.mark.parametrize("precision,compute,loss_scaled", [
    ("mixed_float16", "float16", True), ("mixed_bfloat16", "bfloat16", False)])
def test_mixed_step(precision, compute, loss_scaled):
  gan, config, (real, labels) = _gan(precision)
  g, d = gan.generator, gan.discriminator
  assert isinstance(gan.g_optimizer, keras.optimizers.LossScaleOptimizer) == loss_scaled
  assert isinstance(gan.d_optimizer, keras.optimizers.LossScaleOptimizer) == loss_scaled
  convs = [l for l in g._flatten_layers() if isinstance(l, keras.layers.Conv2DTranspose)]
  assert convs[0].compute_dtype == compute  # the convolutions do run in low precision
  step = tf.function(gan.train_step)  # as fit runs it
  for _ in range(2):
    logs = step((real, labels))
  assert _finite_logs(logs), logs
  assert {v.dtype for v in g.variables + d.variables} == {"float32"}
  z = tf.zeros([2, config.latent_dim])
  images = g(z, training=False)
  assert images.dtype == tf.float32  # tanh in float32: range and dtype as in float32
  assert d(images, training=False).dtype == tf.float32  # the logit layer too


def test_loss_scale_grows_after_finite_steps():
  """Dynamic scaling doubles the scale after `dynamic_growth_steps` finite steps, per optimizer."""
  config = tiny(precision="mixed_float16")
  devices.set_precision(config.precision)
  g, d = models.build_models(config)
  gan = GAN(g, d, config.latent_dim, seed=config.seed)
  opts = [keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(2e-4, beta_1=0.5),
                                              initial_scale=2.0 ** 10, dynamic_growth_steps=2)
          for _ in range(2)]
  gan.compile(d_optimizer=opts[0], g_optimizer=opts[1])
  batch = next(iter(data.make_dataset(config)[0]))
  step = tf.function(gan.train_step)
  for _ in range(2):
    logs = step(batch)
  assert _finite_logs(logs)
  for opt in opts:
    assert float(opt.dynamic_scale.numpy()) == 2.0 ** 11


def test_loss_scale_shrinks_and_skips_on_overflow():
  """An overflow in D's float16 pass halves D's scale and leaves D's weights unchanged."""
  gan, _, (real, labels) = _gan("mixed_float16")
  step = tf.function(gan.train_step)  # as fit runs it

  def scales():
    return float(gan.d_optimizer.dynamic_scale), float(gan.g_optimizer.dynamic_scale)

  # Unpoisoned steps first, until one changes neither scale: Keras starts at 2^15, where a
  # fresh D's or G's float16 gradients may overflow on their own (measured: each scale
  # settles at 2^13 or 2^14 within two steps, depending on --seed).
  for _ in range(5):
    settled = scales()
    step((real, labels))
    if scales() == settled:
      break
  assert scales() == settled, "the loss scales did not settle"
  d_scale, g_scale = settled
  d_weights = [v.numpy().copy() for v in gan.discriminator.trainable_variables]
  # 1e6 is finite in float32 but overflows float16 (max 65504) inside D's first conv.
  poisoned = tf.tensor_scatter_nd_update(real, [[0, 0, 0, 0]], [1e6])
  step((poisoned, labels))
  assert float(gan.d_optimizer.dynamic_scale) == d_scale / 2
  assert float(gan.g_optimizer.dynamic_scale) == g_scale  # G's own scaler is independent
  for before, v in zip(d_weights, gan.discriminator.trainable_variables):  # a skipped step
    np.testing.assert_array_equal(before, v.numpy())  # writes nothing: bit for bit


@pytest.mark.parametrize("gpu,tpu,expected", [(False, False, "float32"),
                                              (True, False, "mixed_float16"),
                                              (False, True, "mixed_bfloat16")])
def test_auto_precision_follows_the_devices(monkeypatch, gpu, tpu, expected):
  """Each branch of --precision=auto, on any machine (the device lists are stubbed)."""
  monkeypatch.setattr(devices, "has_gpu", lambda: gpu)
  monkeypatch.setattr(tf.config, "list_logical_devices",
                      lambda kind=None: ["tpu"] if tpu and kind == "TPU" else [])
  assert devices.resolve_precision("auto") == expected
  assert devices.resolve_precision("mixed_bfloat16") == "mixed_bfloat16"  # explicit wins
  assert devices.resolve_conv_impl("auto") == ("keras" if gpu else "subpixel")
  assert devices.resolve_conv_impl("keras") == "keras"


def test_xla_auto_follows_the_devices(monkeypatch):
  strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
  assert devices.resolve_jit_compile("auto", strategy) is False  # no XLA under a strategy
  assert devices.resolve_jit_compile("on", strategy) is True  # forced: the user's call
  assert devices.resolve_jit_compile("off") is False
  cpu, gpu = tf.config.PhysicalDevice("/cpu:0", "CPU"), tf.config.PhysicalDevice("/gpu:0", "GPU")
  monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [cpu])
  assert devices.resolve_jit_compile("auto", tf.distribute.get_strategy()) is True
  monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [cpu, gpu])
  assert devices.resolve_jit_compile("auto", tf.distribute.get_strategy()) == "auto"  # Keras'


# mixed_float16: the GPU default. float32 (the CPU default, XLA on) is compiled and trained by
# test_gpu_setup's OneDeviceStrategy test; mixed_bfloat16 trains through the whole training
# function below (and its XLA compile is ~3x the others' on CPU).
@pytest.mark.parametrize("precision", ["mixed_float16"])
def test_xla_step_under_the_gpu_policy(precision):
  """The whole step compiles with XLA (--jit_compile=on) and trains under the policies
  devices.resolve_precision picks on CPUs and GPUs."""
  gan, config, _ = _gan(precision, jit_compile="on")
  assert gan.jit_compile is True
  ds, _ = data.make_dataset(config)
  gan.make_train_function()
  iterator = iter(ds)
  before = [v.numpy().copy() for v in gan.generator.trainable_variables]
  for _ in range(2):
    logs = gan.train_function(iterator)
  assert _finite_logs(logs), logs
  assert any(not np.array_equal(b, v.numpy())
             for b, v in zip(before, gan.generator.trainable_variables))


def test_mixed_precision_through_the_training_function(tmp_path):
  """train() end to end under a mixed policy: mixed_bfloat16 everywhere, and mixed_float16
  (loss-scaled) where a GPU exists; variables stay float32, the export is uint8."""
  from dcgan_tf.train import loop
  precision = "mixed_float16" if devices.has_gpu() else "mixed_bfloat16"
  summary = loop.train(tiny(precision=precision, train_steps=3, checkpoint_every=2,
                            export=True), str(tmp_path / "run"))
  assert summary["policy"] == precision and summary["step"] == 3
  reader = tf.train.load_checkpoint(summary["checkpoint"])
  kernel = reader.get_tensor("generator/up1/deconv/kernel/.ATTRIBUTES/VARIABLE_VALUE")
  assert kernel.dtype == np.float32 and np.all(np.isfinite(kernel))
  images = tf.saved_model.load(summary["saved_model"]).signatures["generate"](
      num=tf.constant(2), seed=tf.constant(0, tf.int64))["images"]
  assert images.dtype == tf.uint8 and images.shape == (2, 32, 32, 1)
