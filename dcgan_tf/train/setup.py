"""A training run's state, built once: setup(config, workdir) -> Run.

In order: the strategy (first: MultiWorkerMirroredStrategy must exist before TensorFlow
runs any op), the GPU check, the workdir checks (before any data is read), the global
seed and precision policy, the data's facts (its Source: size and classes), the config
with its class count resolved and saved, the compiled GAN with its fixed noise, the
checkpoints restored (or a step-0 checkpoint written), and only then the input pipeline,
shuffled with the seed of the step the run starts from (data.data_seed). train/loop.py
fits it; tests and the bench build their runs here too.
"""

import dataclasses
import json
from typing import Optional

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from dcgan_tf import checkpoints
from dcgan_tf import config as config_lib
from dcgan_tf import data as data_lib
from dcgan_tf import devices
from dcgan_tf import models
from dcgan_tf import seeds
from dcgan_tf.data import sources as sources_lib
from dcgan_tf.train import build, distribute, faults
from dcgan_tf.workdir import Workdir


class Input:
  """The run's input pipelines: each input pipeline's Source (file listing, decode probes,
  TFDS builder) is made once, and `dataset(step, rollbacks)` batches it afresh, shuffled for
  that start (a resume, a rollback)."""

  def __init__(self, config: config_lib.Config, strategy):
    self.config, self.strategy = config, strategy
    self.sources = {}  # {shard: Source} (data.make_dataset fills it)
    shard = distribute.input_shard(strategy)
    self.sources[shard] = sources_lib.get_source(config, shard)
    self.source = self.sources[shard]  # facts of the whole dataset: size, classes

  def dataset(self, step: int, rollbacks: int = 0):
    """The distributed dataset of uint8 batches of a fit started at generator step `step`
    after `rollbacks` rollbacks: each input pipeline shuffled with data.data_seed."""
    return distribute.distributed_dataset(self.strategy, lambda ctx: data_lib.make_dataset(
        self.config, batch_size=self.config.batch_size, uint8=True, input_context=ctx,
        seed=data_lib.data_seed(self.config.seed, step, rollbacks, ctx.input_pipeline_id),
        sources=self.sources), self.config.batch_size)[0]


@dataclasses.dataclass
class Run:
  """Everything a training run trains with (see the module docstring)."""
  config: config_lib.Config  # num_classes resolved from the data when conditional
  num_classes: int  # classes G and D take: > 0 only for the conditional variant
  strategy: tf.distribute.Strategy
  policy: str  # the precision policy set (devices.set_precision)
  workdir: Workdir  # the run's folder: checkpoints are restored from here
  out: Workdir  # where this process writes: the workdir on the chief (distribute.write_dir)
  input: Input
  total_steps: int  # generator steps of the whole run
  gan: object  # the compiled GAN (gan.py)
  fixed_noise: tf.Variable
  guard: faults.NonFiniteGuard
  checkpoints: checkpoints.RunCheckpoints
  restored: Optional[str]  # the checkpoint resumed from; None for a fresh run
  start_step: int
  dataset: object  # the input pipeline of the first fit (from start_step, no rollback)

  @property
  def sample_generator(self):
    """The G that grids, evaluation and the export use: the EMA G when there is one."""
    return self.gan.generator if self.gan.ema_generator is None else self.gan.ema_generator


def setup(config: config_lib.Config, workdir: str, overwrite: bool = False) -> Run:
  """Builds (or resumes) the run of `config` in `workdir`; see the module docstring.

  overwrite: start afresh even if `workdir` holds a run; the old run is renamed to
  WORKDIR.old-<time> (Workdir.move_aside), never deleted. Raises UserError for bad input.
  """
  config_lib.validate(config)
  run_dir = Workdir(workdir)
  strategy = distribute.get_strategy(config.strategy)
  devices.check_gpu(config.require_gpu)  # before anything is written
  # Only the chief writes the run's folder; other workers write to a throwaway folder
  # (TF's multi-worker guide) and restore from run_dir.
  out = Workdir(distribute.write_dir(strategy, workdir))
  out.start(config, overwrite)
  keras.utils.set_random_seed(seeds.derive(config.seed, "global"))  # for anything unseeded
  policy = devices.set_precision(config.precision)
  logging.info("Training on %s", devices.describe(
      strategy, policy, devices.resolve_jit_compile(config.jit_compile, strategy)))

  inputs = Input(config, strategy)
  num_classes = models.conditional_classes(config, inputs.source.num_classes)
  config = config.replace(num_classes=num_classes) if num_classes else config
  total_steps = build.total_steps(config, inputs.source.num_examples)
  out.save_config(config)
  logging.info("Config (precision policy %s, conv_impl %s):\n%s", policy,
               devices.resolve_conv_impl(config.conv_impl),
               json.dumps(config.to_dict(), indent=2, sort_keys=True))

  gan, fixed_noise = build.build_gan(config, num_classes, strategy, policy)
  guard = faults.NonFiniteGuard(gan)
  run_checkpoints = checkpoints.RunCheckpoints(gan, fixed_noise, run_dir, out,
                                               config.keep_checkpoints, guard)
  restored = run_checkpoints.restore()
  start_step = int(gan.step.numpy())
  if restored:
    logging.info("Resumed from %s at step %d of %d", restored, start_step, total_steps)
  else:
    # Step 0: a good state to roll back to before the first period; and an unwritable
    # disk fails now, not at the first checkpoint hours later.
    run_checkpoints.save()
  np.save(out.fixed_noise_path, fixed_noise.numpy())
  return Run(config=config, num_classes=num_classes, strategy=strategy, policy=policy,
             workdir=run_dir, out=out,
             input=inputs, total_steps=total_steps, gan=gan, fixed_noise=fixed_noise,
             guard=guard, checkpoints=run_checkpoints, restored=restored,
             start_step=start_step, dataset=inputs.dataset(start_step))
