"""The bench command and the FLOP count it divides by. No test asserts on speed."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import TrainState, run_module, tiny, tiny_gan
from dcgan_tf import config as config_lib
from dcgan_tf import models
from dcgan_tf.gan import log_floats
from dcgan_tf.bench import flops
from dcgan_tf.models import subpixel


def _conv(out_hw, k, c_in, c_out):
  return 2 * out_hw * out_hw * k * k * c_in * c_out


def _deconv(in_hw, k, c_in, c_out):
  return 2 * in_hw * in_hw * k * k * c_in * c_out


def test_flops_of_the_paper_network_at_64():
  g, d = models.build_models(tiny(image_size=64, channels=3, gen_filters=64, disc_filters=64,
                                  latent_dim=100))
  g_layers = [_deconv(1, 4, 100, 512), _deconv(4, 4, 512, 256), _deconv(8, 4, 256, 128),
              _deconv(16, 4, 128, 64), _deconv(32, 4, 64, 3)]
  d_layers = [_conv(32, 4, 3, 64), _conv(16, 4, 64, 128), _conv(8, 4, 128, 256),
              _conv(4, 4, 256, 512), _conv(1, 4, 512, 1)]
  gf, df = flops.network_flops(g), flops.network_flops(d)
  assert [f for _, f in gf.layers] == g_layers
  assert [f for _, f in df.layers] == d_layers
  assert (gf.first_layer, df.first_layer) == (g_layers[0], d_layers[0])
  G, D = sum(g_layers), sum(d_layers)
  assert flops.train_step_flops(g, d) == 3 * G - g_layers[0] + 8 * D - 2 * d_layers[0]
  assert 2.2e9 < flops.train_step_flops(g, d) < 2.3e9  # per image
  extra = G + 6 * D - 2 * d_layers[0]
  assert flops.train_step_flops(g, d, d_steps=2) == flops.train_step_flops(g, d) + extra


def test_flops_counts_spectral_norm_and_conditional_layers():
  plain = flops.network_flops(models.build_models(tiny(variant="dcgan"))[1]).forward
  sn = flops.network_flops(models.build_models(tiny(variant="sngan"))[1]).forward
  assert sn == plain  # the wrapped convolutions are found and counted once
  cond = flops.network_flops(models.build_models(
      config_lib.resolve_classes(tiny(variant="cdcgan"), 10))[1]).forward
  assert cond > plain  # label maps add input channels to D's first conv


@pytest.fixture
def no_tf32():
  """Float32 convolutions at float32 precision on any device: with TF32 (on by default on
  Ampere and later GPUs) cuDNN rounds their inputs to 10-bit mantissas, ~5e-4 relative,
  and two formulations whose algorithms transform the inputs differently (Winograd, FFT)
  then differ at that level, far above the float32 rounding compared here. No-op on CPUs."""
  enabled = tf.config.experimental.tensor_float_32_execution_enabled()
  tf.config.experimental.enable_tensor_float_32_execution(False)
  yield
  tf.config.experimental.enable_tensor_float_32_execution(enabled)


@pytest.mark.parametrize("transposed", [True, False])
@pytest.mark.parametrize("size,c_in,c_out,bias", [(4, 8, 16, False), (6, 3, 32, True)])
def test_subpixel_layers_equal_keras(transposed, size, c_in, c_out, bias, no_tf32):
  """Same weights, same outputs and gradients as Keras' Conv2DTranspose / Conv2D (float32 rounding)."""
  kw = dict(filters=c_out, kernel_size=4, strides=2, padding="same", use_bias=bias,
            bias_initializer="random_normal")
  if transposed:
    fast, ref = subpixel.Conv2DTranspose(**kw), keras.layers.Conv2DTranspose(**kw)
    shape = [3, size, size + 1, c_in]  # odd, non-square too
  else:
    fast, ref = subpixel.Conv2D(**kw), keras.layers.Conv2D(**kw)
    shape = [3, 2 * size, 2 * size + 2, c_in]  # even sides: the fast path's condition
  x = tf.random.stateless_normal(shape, seed=[0, 1])
  fast.build(x.shape)
  ref.build(x.shape)
  for a, b in zip(ref.weights, fast.weights):
    a.assign(b)
  assert fast.fast
  dy = tf.random.stateless_normal(ref.compute_output_shape(x.shape), seed=[0, 2])
  results = []
  for layer in (fast, ref):
    with tf.GradientTape() as tape:
      tape.watch(x)
      y = layer(x)
    results.append([y] + tape.gradient(y, [x] + layer.trainable_weights, output_gradients=dy))
  # Each output is a float32 sum of n terms (y: 4 c_in taps; dx: 4 c_out; dk, db: one per
  # position, up to 3 x 12 x 14 = 504) that the two formulations add in other orders. Each
  # addition rounds by ~u |partial sum| (u = 2^-24) and partial sums are as large as the
  # output's rms, so two orders differ by ~u sqrt(n) rms, 1.3e-6 rms at n = 504: atol
  # 1e-5 rms is 7 of those (measured: <= 0.15 of it, db's 3e-5 at rms 20), where a wrong
  # tap or parity is off by O(rms). rtol adds room for the largest outputs.
  for got, want in zip(*results):
    want = want.numpy()
    rms = np.sqrt(np.mean(want ** 2))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-5 * rms)


def test_subpixel_falls_back_where_it_is_not_faster(no_tf32):
  assert not subpixel.Conv2DTranspose(3, 4, strides=2, padding="same").fast  # 3 channels out
  assert not subpixel.Conv2DTranspose(64, 4, strides=1, padding="valid").fast
  assert not subpixel.Conv2D(64, 3, strides=2, padding="same").fast
  odd = subpixel.Conv2D(8, 4, strides=2, padding="same")
  x = tf.random.stateless_normal([2, 5, 5, 3], seed=[0, 3])
  ref = keras.layers.Conv2D(8, 4, strides=2, padding="same")
  ref.build(x.shape)
  odd.build(x.shape)
  for a, b in zip(ref.weights, odd.weights):
    a.assign(b)
  # Keras' call: the same op on the same inputs, bit for bit on a CPU; the tolerance is a
  # GPU's (another cuDNN algorithm: 48-term float32 sums in another order, ~u sqrt(48) |y|).
  np.testing.assert_allclose(odd(x).numpy(), ref(x).numpy(), rtol=1e-5, atol=1e-6)


def test_breakdown_parts_compute_the_train_steps_losses():
  """The breakdown's parts run the train step's own code: with sngan (real and fake in one D
  call), least squares with label smoothing and DiffAugment, d_grads and g_grads compute
  the very losses the step logs."""
  from dcgan_tf.bench import breakdown
  # '/CPU:0', and the parts' Python bodies run eagerly (what their graphs trace; tracing them
  # would cost ~5 s): the step's own ops on the same inputs and device, bit for bit.
  with tf.device("/CPU:0"):
    gan, (real, labels) = tiny_gan(variant="sngan", loss="least_squares", label_smoothing=0.2,
                                   augment="translation,cutout")
    start = TrainState(gan)
    logs = log_floats(gan.train_step((real, labels)))
    start.restore()  # weights, spectral-norm estimates, step (the noise and augment seeds)
    parts = {name: fn.python_function
             for name, fn in breakdown.step_parts(gan, labels, jit=False).items()}
    z = gan._noise(16, 0)  # the step's z
    assert parts["g_forward"](z).shape == real.shape and parts["d_forward"](real).shape == [16]
    start.restore()
    d_loss, d_grads = parts["d_grads"](real, z)
    start.restore()
    gan._d_update(real, labels, gan.generator(z, labels, training=True), 16)  # G's loss: D after
    g_loss, g_grads = parts["g_grads"](real, z)
  assert float(d_loss) == logs["d_loss"] and float(g_loss) == logs["g_loss"]
  for grads, network in ((d_grads, gan.discriminator), (g_grads, gan.generator)):
    assert len(grads) == len(network.trainable_variables)
    assert all(np.isfinite(g.numpy()).all() and np.any(g.numpy()) for g in grads)


def _rows(stdout):
  return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def _rounds_to(value, decimals, low, high):
  """Whether `value`, a figure the bench printed rounded to `decimals` places, can be the
  rounding of a quantity in [low, high]: within half a unit of its last place of that
  interval. The bounds come from a few float64 operations on printed figures (~1e-16
  relative each): widened by 1e-9 relative."""
  half = 0.5 * 10.0 ** -decimals
  return low * (1 - 1e-9) - half <= value <= high * (1 + 1e-9) + half


def _span(value, decimals):
  """The positive quantities that round(., decimals) prints as `value`: (low, high)."""
  half = 0.5 * 10.0 ** -decimals
  return max(value - half, 1e-12), value + half


def _per_second_ok(row, key, flops, batch, decimals=5):
  """row[key] (GFLOP/s, 2 places) == flops * batch / row["seconds"] / 1e9, the seconds
  printed to `decimals` places: an interval of the true seconds."""
  low, high = _span(row["seconds"], decimals)
  return _rounds_to(row[key], 2, flops * batch / high / 1e9, flops * batch / low / 1e9)


@pytest.mark.heavy
def test_bench_command_prints_json_lines():
  # --filters=8: the same rows and relations at a fraction of the paper widths' cost;
  # Keras' convolutions as conftest.tiny (the rows' relations do not depend on them).
  flags = dict(image_size=32, channels=1, batch_size=8, filters=8, dataset="digits",
               conv_impl="keras")
  result = run_module("dcgan_tf.bench", *[f"--{k}={v}" for k, v in flags.items()],
                      "--steps=2", "--warmup=1", "--rounds=2", "--matmul_size=128",
                      "--precision=float32,mixed_bfloat16", "--nojit_compile", "--breakdown",
                      "--pipeline", "--pipeline_batches=2")
  assert result.returncode == 0, result.stderr[-3000:]
  rows = _rows(result.stdout)
  # The FLOPs the rows divide by, counted here from the networks of the same Config.
  from dcgan_tf.bench import settings
  config = settings.bench_config(settings.BenchOptions(**flags))
  g, d = models.build_models(config)
  gf, df = flops.network_flops(g), flops.network_flops(d)
  step_flops = flops.train_step_flops(g, d)

  matmul = {r["dtype"]: r for r in rows if r["kind"] == "matmul"}
  assert sorted(matmul) == ["bfloat16", "float32"]
  for r in matmul.values():
    assert r["n"] == 128 and 0 < r["gflop_per_s"] <= r["best_gflop_per_s"]  # median <= best
    assert isinstance(r["cpu_native_bf16"], bool)
  peak = {dtype: _span(r["gflop_per_s"], 2) for dtype, r in matmul.items()}
  steps = {r["precision"]: r for r in rows if r["kind"] == "step"}
  assert sorted(steps) == ["float32", "mixed_bfloat16"]
  for precision, r in steps.items():
    assert (r["variant"], r["image_size"], r["channels"], r["batch_size"]) == ("dcgan", 32, 1, 8)
    assert r["jit_compile"] is False and r["steps_per_execution"] == 1 and r["steps"] == 2
    assert 0 < r["s_per_step_min"] <= r["s_per_step"] and r["first_call_s"] > 0
    assert r["img_per_s"] > 0 and r["utilisation"] > 0
    # Every figure from its definition (bench/step.py), through the JSON's rounding.
    s_low, s_high = _span(r["s_per_step"], 5)
    assert _rounds_to(r["img_per_s"], 2, 8 / s_high, 8 / s_low), r
    assert r["flops_per_image"] == step_flops
    img_low, img_high = _span(r["img_per_s"], 2)
    assert _rounds_to(r["gflop_per_s"], 2, step_flops * img_low / 1e9,
                      step_flops * img_high / 1e9), r
    assert r["matmul_fp32_gflop_per_s"] == matmul["float32"]["gflop_per_s"]
    gflops = _span(r["gflop_per_s"], 2)
    own = peak["bfloat16" if precision == "mixed_bfloat16" else "float32"]
    for key, (p_low, p_high) in (("utilisation", peak["float32"]),
                                 ("utilisation_own_dtype_peak", own)):
      assert _rounds_to(r[key], 4, gflops[0] / p_high, gflops[1] / p_low), (key, r)
    assert set(r["losses"]) == {"d_loss", "g_loss", "d_real", "d_fake"}
    assert all(np.isfinite(v) for v in r["losses"].values())
    assert 0 <= r["losses"]["d_real"] <= 1 and 0 <= r["losses"]["d_fake"] <= 1
  # vs_float32 = img_per_s (printed) / float32's img_per_s (unrounded).
  f32_low, f32_high = _span(steps["float32"]["img_per_s"], 2)
  bf16 = steps["mixed_bfloat16"]["img_per_s"]
  assert steps["float32"]["vs_float32"] == 1.0 and steps["mixed_bfloat16"]["vs_float32"] > 0
  assert _rounds_to(steps["mixed_bfloat16"]["vs_float32"], 3, bf16 / f32_high, bf16 / f32_low)

  # The breakdown: each part's GFLOP/s is its FLOP count (bench/flops.py's docstring) per
  # image x 8 / its seconds.
  G, G1, D, D1 = gf.forward, gf.first_layer, df.forward, df.first_layer
  part_flops = dict(g_forward=G, d_forward=D, d_grads=G + 6 * D - 2 * D1,
                    g_grads=3 * G - G1 + 2 * D, step=step_flops)
  parts = {r["part"]: r for r in rows if r["kind"] == "part"}
  assert set(parts) == set(part_flops)
  for name, r in parts.items():
    assert r["precision"] == "float32" and r["seconds"] > 0
    assert _per_second_ok(r, "gflop_per_s", part_flops[name], 8), r
  # Every counted layer of G then D, forward / input / kernel passes, its FLOPs per image x 8.
  layers = [r for r in rows if r["kind"] == "layer"]
  expected = [(net.name, name, part, f) for net, nf in ((g, gf), (d, df))
              for name, f in nf.layers for part in ("forward", "input", "kernel")]
  assert [(r["network"], r["layer"], r["part"]) for r in layers] == [e[:3] for e in expected]
  for r, (*_, f) in zip(layers, expected):
    assert r["input_shape"][0] == 8 and _per_second_ok(r, "gflop_per_s", f, 8, decimals=6), r

  pipeline = [r for r in rows if r["kind"] == "pipeline"]
  assert len(pipeline) == 1
  p = pipeline[0]
  # Computed in float64 from the printed fields (JSON keeps every bit of a float): exact.
  assert p["images_per_s"] == p["num_batches"] * p["batch_size"] / p["seconds"]
  assert p["batches_per_s"] == p["num_batches"] / p["seconds"]
  assert p["img_per_s"] == round(p["images_per_s"], 2) and p["img_per_s"] > 0
  assert (p["num_batches"], p["warmup_batches"], p["batch_size"]) == (2, 2, 8)
  assert (p["dataset"], p["num_examples"], p["image_shape"], p["dtype"]) == (
      "digits", 1797, [32, 32, 1], "uint8")


def test_bench_rejects_a_bad_flag_before_loading_tensorflow():
  result = run_module("dcgan_tf.bench", "--precision=float8")
  assert result.returncode == 1
  # Nothing from TensorFlow's start-up before the error: the flags are checked first.
  assert result.stderr.strip().startswith("error: --precision"), result.stderr[-2000:]


@pytest.mark.parametrize("options,message", [
    (dict(steps_per_execution="0"), "^steps_per_execution: "), (dict(steps=0), "^steps: "),
    (dict(precision="float32,fp8"), "^precision: "), (dict(image_size=48), "^image_size: ")])
def test_bench_options_name_the_field(options, message):
  from dcgan_tf.bench import settings
  from dcgan_tf.errors import UserError
  options = settings.BenchOptions(**options)
  with pytest.raises(UserError, match=message):
    settings.validate(options)
    settings.bench_config(options)
