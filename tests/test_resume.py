"""Resume (issue 2): a rerun continues the step, both optimizers and every network variable."""

import os

import numpy as np
import tensorflow as tf

from conftest import tiny


def test_rerun_resumes_step_and_both_optimizers(tmp_path):
  from dcgan_tf import train_lib
  workdir = str(tmp_path / "run")
  first = train_lib.train_and_evaluate(tiny(train_steps=4, checkpoint_every=2), workdir)
  assert first["start_step"] == 0 and first["step"] == 4
  second = train_lib.train_and_evaluate(tiny(train_steps=8, checkpoint_every=2), workdir)
  assert second["start_step"] == 4 and second["step"] == 8
  reader = tf.train.load_checkpoint(second["checkpoint"])
  for name in ("step", "g_optimizer/_iterations", "d_optimizer/_iterations"):
    assert reader.get_tensor(f"{name}/.ATTRIBUTES/VARIABLE_VALUE") == 8, name


def test_checkpoint_holds_every_network_variable(tmp_path):
  """Keras 3 layers kept in Python lists are invisible to tf.train.Checkpoint's object graph;
  checkpoints must still hold (and restore) every variable, batch-norm statistics included."""
  from dcgan_tf import checkpoint as ckpt_lib
  from dcgan_tf import models, train_lib
  workdir = str(tmp_path / "run")
  config = tiny(train_steps=2)
  path = train_lib.train_and_evaluate(config, workdir)["checkpoint"]
  generator, discriminator = models.build_models(config, 0)
  assert ckpt_lib.restore_networks(path, generator=generator, discriminator=discriminator) == 2
  reader = tf.train.load_checkpoint(path)
  for name, network in (("generator", generator), ("discriminator", discriminator)):
    for key, variable in ckpt_lib.variables_in_order(network).items():
      saved = reader.get_tensor(f"{name}_variables/{key}/.ATTRIBUTES/VARIABLE_VALUE")
      np.testing.assert_array_equal(variable.numpy(), saved, err_msg=variable.path)
  moving_means = [v for v in generator.variables if v.path.endswith("moving_mean")]
  assert moving_means and all(np.any(v.numpy() != 0) for v in moving_means), \
      "batch-norm statistics were not restored (still their initial zeros)"
  assert os.path.isfile(os.path.join(workdir, "fixed_noise.npy"))

  # A checkpoint in the old layout (no variable dicts) still restores every trainable weight.
  from dcgan_tf import distribute
  gan, noise = train_lib.build_gan(config, 0, distribute.get_strategy("default"), "float32")
  checkpoint, manager = ckpt_lib.make_manager(gan, noise, workdir)
  ckpt_lib.restore_latest(checkpoint, manager)
  legacy = tf.train.Checkpoint(generator=gan.generator, discriminator=gan.discriminator,
                               g_optimizer=gan.g_optimizer, d_optimizer=gan.d_optimizer,
                               step=gan.step, fixed_noise=noise).save(str(tmp_path / "old" / "ckpt"))
  fresh, _ = models.build_models(config, 0)
  assert ckpt_lib.restore_networks(legacy, generator=fresh) == 2
  for old, new in zip(gan.generator.trainable_variables, fresh.trainable_variables):
    np.testing.assert_array_equal(old.numpy(), new.numpy(), err_msg=old.path)
