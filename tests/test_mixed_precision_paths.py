"""GPU conditions reproduced on the CPU: the mixed_float16 policy, two logical CPU replicas.

- Spectral norm under mixed_float16 keeps D's kernels float32 (models/layers.spectral_norm_layer).
- Loss scaling under MirroredStrategy: an overflow on one replica skips the step on every
  replica (gan.nonfinite_everywhere). Logical devices must be configured before TensorFlow
  initialises, so that part runs in a subprocess: this file as a script.
- Exports are float32 whatever the training policy (inference.float32_generator).
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from conftest import REPO, tiny, tiny_gan

FLOAT32_EPS = 2.0 ** -24  # float32 unit roundoff
FLOAT16_EPS = 2.0 ** -11  # float16 unit roundoff


@pytest.fixture(autouse=True)
def float32_policy():
  """Keras' dtype policy is global: every test here leaves it at float32."""
  yield
  keras.mixed_precision.set_dtype_policy("float32")


def _sn_gan(precision):
  """The projection cGAN: sngan's spectral-normalised D blocks plus the spectral-normalised
  class embedding, and a G of class-conditional batch norms (float16 gains under the policy)."""
  return tiny_gan(variant="cdcgan_projection", num_classes=10, precision=precision,
                  ema_decay=0.0)


def _reference_normalisation(kernel, u):
  """kernel / sigma (one power iteration from u, as Keras' layer) in float64."""
  w = kernel.astype(np.float64).reshape(-1, kernel.shape[-1])
  v = u.astype(np.float64) @ w.T
  v /= np.linalg.norm(v)
  u = v @ w
  u /= np.linalg.norm(u)
  sigma = float((v @ w @ u.T).item())
  return kernel.astype(np.float64) / sigma


def test_spectral_norm_kernels_stay_float32_under_mixed_float16():
  import tensorflow as tf
  gan, batch = _sn_gan("mixed_float16")
  sn = [l for l in gan.discriminator._flatten_layers()
        if isinstance(l, keras.layers.SpectralNormalization)]
  hidden = [l for l in sn if l.layer.compute_dtype == "float16"]
  assert hidden, "the hidden convs compute in float16 (the condition reproduced)"
  assert any(l.name == "sn_embed" for l in sn)
  step = tf.function(gan.train_step)
  for _ in range(4):
    logs = step(batch)
  assert all(np.isfinite(float(v[0])) for v in logs.values())
  for layer in sn:
    kernel = layer.kernel.numpy()
    assert kernel.dtype == np.float32
    # A float32 value is float16-representable only when its low 13 mantissa bits are 0
    # (chance 2^-13 for an updated weight); rounding through float16 makes it 100%.
    exact16 = np.mean(kernel.astype(np.float16).astype(np.float32) == kernel)
    assert exact16 < 0.01, (layer.name, exact16)
  # One more training call of a hidden layer: its new kernel is the float32 normalisation.
  layer = hidden[-1]
  kernel, u = layer.kernel.numpy(), layer.vector_u.numpy()
  x = tf.zeros([2, 8, 8, layer.layer.kernel.shape[2]], tf.float16)
  layer(x, training=True)
  # Tolerance: sigma comes from three float32 matrix products and two norms, each a sum
  # of at most n = max(kernel rows, columns) terms (relative error <= n * eps32 each), and
  # the division adds one rounding: 4n + 1 eps32. Rounding via float16 would be off by up
  # to eps16 = 2^-11, over 4x this bound at the tiny D's n <= 256.
  n = max(int(np.prod(kernel.shape[:-1])), kernel.shape[-1])
  rtol = (4 * n + 1) * FLOAT32_EPS
  assert rtol < FLOAT16_EPS / 4
  np.testing.assert_allclose(layer.kernel.numpy(), _reference_normalisation(kernel, u),
                             rtol=rtol, atol=0)


@pytest.mark.heavy
def test_a_mixed_float16_run_exports_and_evaluates_in_float32(tmp_path, request):
  """The end-of-training export equals `export` of the final checkpoint (a fresh float32
  process's view), bit for bit; evaluation during training equals `evaluate` on the best
  checkpoint. Both sides compute the same float32 ops on the same weights, so on a CPU
  equality is exact (a float16 G differs by a grey level on 0.6% of pixels, and moves SWD
  by 1.4e-5 relative)."""
  import tensorflow as tf
  from dcgan_tf import devices, inference
  from dcgan_tf.evaluate import evaluator, options as eval_options
  from dcgan_tf.export import options as export_options, savedmodel
  from dcgan_tf.train import loop
  workdir = str(tmp_path / "run")
  tf.config.experimental.enable_tensor_float_32_execution(False)
  request.addfinalizer(lambda: tf.config.experimental.enable_tensor_float_32_execution(True))
  summary = loop.train(tiny(precision="mixed_float16", train_steps=6, eval_every=3,
                            eval_samples=64, eval_metrics="swd", checkpoint_every=3,
                            export=True, export_generator="best"), workdir)
  assert summary["policy"] == "mixed_float16"
  from dcgan_tf.export import metadata  # the final export: the better of EMA and trained G
  chosen = metadata.read(summary["saved_model"])["generator"]
  again = savedmodel.export_from_workdir(export_options.ExportOptions(
      workdir=workdir, out=str(tmp_path / "again"), use_ema=chosen == "ema"))
  z = tf.constant(inference.latent(64, 16, seed=3))
  with tf.device("/CPU:0"):  # deterministic kernels on any machine: exact comparison
    images = [tf.saved_model.load(path).signatures["serving_default"](z=z)["images"].numpy()
              for path in (summary["saved_model"], again)]
  np.testing.assert_array_equal(images[0], images[1])
  with open(os.path.join(workdir, "saved_model_best.json")) as f:
    best = json.load(f)
  scored = evaluator.evaluate(eval_options.Options(
      workdir=workdir, checkpoint=best["checkpoint"], metrics="swd", num_samples=64,
      use_ema=best["generator"] == "ema"))
  assert scored["step"] == best["step"]
  # On a GPU the two evaluations may pick different cuDNN algorithms (float32 rounding
  # in another order, ~1e-6 relative per conv): 1e-6 relative, still below the float16
  # effect (1.4e-5). With TF32 on (Ampere+), conv inputs round to 10 bits: turned off.
  rel = 1e-6 if devices.has_gpu() else 0
  assert scored["metrics"]["swd"]["value"] == pytest.approx(best["value"], rel=rel, abs=0)


def _run_script(*args, timeout=300):
  env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2")
  return subprocess.run([sys.executable, os.path.abspath(__file__), *args], capture_output=True,
                        text=True, timeout=timeout, env=env, cwd=REPO)


def test_an_overflow_on_one_replica_skips_the_step_on_every_replica():
  """2 logical CPU replicas, loss-scaled optimizers: a non-finite gradient on replica 1
  only. Both replicas keep their weights bit-for-bit and halve their scale; the next
  finite step trains both alike."""
  result = _run_script("replicas")
  assert result.returncode == 0, result.stderr[-3000:]
  out = json.loads(result.stdout.strip().splitlines()[-1])
  start, scale = out["start"], out["initial_scale"]
  for replica in out["after_overflow"]:
    assert replica["weights"] == start  # bit-unchanged (floats round-trip through JSON)
    assert replica["scale"] == scale / 2
  # The finite step: SGD(lr) on the sum over 2 replicas of d(sum(w * 1))/dw = 1 each;
  # the scale is a power of two, so unscaling is exact: w = 1 - lr * 2 in float32.
  expected = float(np.float32(1.0) - np.float32(out["lr"]) * np.float32(2.0))
  for replica in out["after_finite"]:
    assert replica["weights"] == [expected] * len(start)
    assert replica["scale"] == scale / 2


def _replicas_main():
  import tensorflow as tf
  tf.config.set_visible_devices([], "GPU")
  cpu = tf.config.list_physical_devices("CPU")[0]
  tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
  from dcgan_tf import gan as gan_lib
  keras.mixed_precision.set_dtype_policy("mixed_float16")
  strategy = tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])
  lr, initial_scale = 0.125, 2.0 ** 10
  with strategy.scope():
    w = keras.Variable(np.ones(3, np.float32), name="w")
    opt = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(lr), initial_scale=initial_scale)
    opt.build([w])

  @tf.function
  def step(bad_replica):
    def replica_fn():
      replica = tf.distribute.get_replica_context().replica_id_in_sync_group
      x = tf.where(tf.equal(replica, bad_replica), float("inf"), 1.0) * tf.ones([3])
      with tf.GradientTape() as tape:
        loss = tf.reduce_sum(w * x)
      gan_lib.update(opt, tape, loss, [w])
    strategy.run(replica_fn)

  def state():
    return [dict(weights=[float(x) for x in v.numpy()], scale=float(s.numpy()))
            for v, s in zip(strategy.experimental_local_results(w.value),
                            strategy.experimental_local_results(opt.dynamic_scale.value))]

  out = dict(start=[1.0] * 3, initial_scale=initial_scale, lr=lr)
  step(tf.constant(1))
  out["after_overflow"] = state()
  step(tf.constant(-1))
  out["after_finite"] = state()
  print(json.dumps(out))


if __name__ == "__main__":
  if sys.argv[1] == "replicas":
    _replicas_main()


def test_policy_scope_restores_and_copy_weights_refuses_another_architecture():
  from dcgan_tf import devices, models
  keras.mixed_precision.set_dtype_policy("mixed_float16")
  with devices.dtype_policy("float32"):
    assert keras.mixed_precision.dtype_policy().name == "float32"
  assert keras.mixed_precision.dtype_policy().name == "mixed_float16"  # restored
  keras.mixed_precision.set_dtype_policy("float32")
  small = models.build_generator(tiny())
  with pytest.raises(ValueError, match="differ in architecture"):
    models.copy_weights(small, models.build_generator(tiny(gen_filters=16)))  # shapes
  with pytest.raises(ValueError, match="differ in architecture"):
    models.copy_weights(small, models.build_generator(tiny(variant="gan", mlp_units=60)))
