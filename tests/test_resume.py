"""Checkpoints by name and exact resume: a rerun continues every variable, not just counters."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO, tiny

# Prints every checkpointed variable of the run in WORKDIR as a resume in a fresh process
# restores it (train/setup.py).
DUMP_RESTORED = """
import sys, numpy as np
from dcgan_tf.train import setup
from dcgan_tf.workdir import Workdir
config = Workdir(sys.argv[1]).load_config().replace(conv_impl="keras")
run = setup.setup(config, sys.argv[1])  # what a resume builds
kinds = {type(l).__module__ for m in (run.gan.generator, run.gan.discriminator)
         for l in m._flatten_layers()}
assert "dcgan_tf.models.subpixel" not in kinds, kinds  # Keras' convolutions this time
values = [v.numpy() for v in run.checkpoints.variables] + [run.gan.step.numpy()]
np.savez(sys.argv[2], *values)
print(run.restored)
"""


def _trained(config, workdir, steps, augment_p=None):
  """A compiled GAN trained `steps` steps on tiny digits, its fixed noise, and its checkpoint
  (augment_p: the adaptive probability set before it is saved)."""
  from dcgan_tf import checkpoints, data
  from dcgan_tf.train import setup
  from dcgan_tf.workdir import Workdir
  gan, noise, _ = setup.make_gan(config, tf.distribute.get_strategy())
  dataset, _ = data.make_dataset(config)
  gan.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0)
  if augment_p is not None:
    gan.augment_p.assign(augment_p)
  wd = Workdir(workdir)
  wd.save_config(config)
  manager = checkpoints.make_manager(checkpoints.make_checkpoint(gan, noise), wd)
  return gan, noise, checkpoints.save(manager, int(gan.step.numpy()))


def test_checkpoint_names_every_layer_of_g_and_d(tmp_path):
  from dcgan_tf import models
  config = tiny()
  _, _, path = _trained(config, str(tmp_path / "run"), 2)
  keys = {k.replace("/.ATTRIBUTES/VARIABLE_VALUE", "") for k, _ in tf.train.list_variables(path)}
  g, d = models.build_models(config)
  expected = {f"generator/{b}/{p}" for b in g.block_names
              for p in ("deconv/kernel", "bn/gamma", "bn/beta", "bn/moving_mean",
                        "bn/moving_variance")}
  expected |= {f"discriminator/{b}/conv/_kernel" for b in d.block_names}
  expected |= {f"discriminator/{b}/bn/{p}" for b in d.block_names[1:]
               for p in ("gamma", "beta", "moving_mean", "moving_variance")}
  expected |= {"generator/to_image/kernel", "discriminator/to_logit/_kernel",
               "discriminator/to_logit/bias", "step", "fixed_noise"}
  assert expected <= keys, sorted(expected - keys)
  networks = {k for k in keys if k.startswith(("generator/", "discriminator/"))}
  assert len(networks) == len(g.variables) + len(d.variables), sorted(networks - expected)
  assert not [k for k in keys if "_trainable_variables" in k], "weights saved by position"


def test_restore_in_a_fresh_process_equals_every_saved_value(tmp_path):
  """Weights, batch-norm statistics, both optimizers' slots, step, fixed noise and the
  adaptive augmentation probability. Trained with the CPU's stride-2 convolutions
  (models/subpixel.py), restored into Keras' (a run resumed on a GPU machine): the two name
  and shape every variable alike."""
  from dcgan_tf import checkpoints
  workdir = str(tmp_path / "run")
  config = tiny(conv_impl="subpixel", augment="translation", augment_p="auto")
  gan, noise, path = _trained(config, workdir, 3, augment_p=0.3141593)
  assert any(v is gan.augment_p for v in checkpoints.saved_variables(gan, noise))
  assert any(type(l).__module__ == "dcgan_tf.models.subpixel"
             for l in gan.discriminator._flatten_layers())
  saved = [v.numpy() for v in checkpoints.saved_variables(gan, noise)] + [gan.step.numpy()]
  # The values must be worth comparing: trained, not initial.
  moving_means = [v.numpy() for v in gan.generator.variables if v.path.endswith("moving_mean")]
  assert all(np.any(m != 0) for m in moving_means)
  assert any(np.any(v.numpy() != 0) for v in gan.g_optimizer.variables if "momentum" in v.path)
  out = tmp_path / "restored.npz"
  result = subprocess.run([sys.executable, "-c", DUMP_RESTORED, workdir, str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2"))
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.strip().endswith(os.path.basename(path))
  with np.load(out) as restored:
    values = [restored[f"arr_{i}"] for i in range(len(restored.files))]
  assert len(values) == len(saved)
  names = [checkpoints.variable_name(v) for v in checkpoints.saved_variables(gan, noise)]
  for name, before, after in zip(names + ["step"], saved, values):  # stored bytes, no
    np.testing.assert_array_equal(before, after, err_msg=name)  # arithmetic: bit for bit


def test_a_run_trained_with_a_fixed_p_resumes_with_an_adaptive_one(tmp_path):
  """Its checkpoints hold no augment_p: every other variable is restored, p starts at 0."""
  from dcgan_tf.train import setup
  workdir = str(tmp_path / "run")
  _trained(tiny(augment="translation"), workdir, 2)
  run = setup.setup(tiny(augment="translation", augment_p="auto"), workdir)
  assert run.start_step == 2 and float(run.gan.augment_p.numpy()) == 0.0
  run.gan.augment_p.assign(0.25)
  run.gan.step.assign_add(1)
  path = run.checkpoints.save()  # step 3, now with p
  run.gan.augment_p.assign(0.0)
  assert run.checkpoints.restore() == path and float(run.gan.augment_p.numpy()) == 0.25


def test_restoring_into_another_shape_is_a_one_line_error(tmp_path):
  from dcgan_tf import models
  from dcgan_tf.errors import UserError
  from dcgan_tf import checkpoints
  _, _, path = _trained(tiny(), str(tmp_path / "run"), 1)
  wider, _ = models.build_models(tiny(gen_filters=16))
  with pytest.raises(UserError, match=r"^checkpoint: .* does not hold these networks") as err:
    checkpoints.restore_networks(path, generator=wider)
  assert "\n" not in str(err.value)
  other_variant, _ = models.build_models(tiny(variant="gan", mlp_units=20, maxout_pieces=5))
  with pytest.raises(UserError, match="does not hold these networks"):
    checkpoints.restore_networks(path, generator=other_variant)


def test_rerun_resumes_from_the_workdir(tmp_path):
  from dcgan_tf.train import loop
  workdir = str(tmp_path / "run")
  first = loop.train(tiny(train_steps=4, checkpoint_every=2), workdir)
  assert first["start_step"] == 0 and first["step"] == 4
  second = loop.train(tiny(train_steps=6, checkpoint_every=2), workdir)
  assert second["start_step"] == 4 and second["step"] == 6
  with open(os.path.join(workdir, "config.json")) as f:
    assert json.load(f)["train_steps"] == 6
  assert tf.train.load_checkpoint(second["checkpoint"]).get_tensor(
      "step/.ATTRIBUTES/VARIABLE_VALUE") == 6
