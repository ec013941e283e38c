"""A training run's state, built once: setup(config, workdir) -> Run.

In order: the strategy (first: MultiWorkerMirroredStrategy must exist before TensorFlow
runs any op), the GPU check, the workdir checks (before any data is read), the global seed
(seed_process), the data's facts (its Source: size and classes), the config with its class
count resolved and saved, the compiled GAN with its fixed noise (make_gan: global seed,
precision policy, build), the checkpoints restored (or a step-0 checkpoint written), and only then the input pipeline,
shuffled with the seed of the step the run starts from (data.data_seed). train/loop.py
fits it; tests and the bench build their GANs with make_gan too.
"""

import dataclasses
from typing import Optional

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from dcgan_tf import checkpoints
from dcgan_tf import config as config_lib
from dcgan_tf import data as data_lib
from dcgan_tf import devices
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
  config: config_lib.Config  # num_classes resolved (config.resolve_classes), as saved
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
  def num_classes(self) -> int:
    """Classes G and D take: > 0 only for the conditional variant (config.num_classes)."""
    return self.config.num_classes

  @property
  def sample_generator(self):
    """The G that grids, evaluation and the export use: the EMA G when there is one."""
    return self.gan.generator if self.gan.ema_generator is None else self.gan.ema_generator


def seed_process(config: config_lib.Config) -> None:
  """TensorFlow's, NumPy's and Python's global seeds from --seed (the "global" stream).
  Everything of ours is seeded from its own stream (seeds.py); this is for what is not:
  spectral norm's power-iteration vector, and the op seeds TF combines with the global one
  (the shuffled file order of folder and TFDS sources). Set before either is created."""
  keras.utils.set_random_seed(seeds.derive(config.seed, "global"))


def make_gan(config: config_lib.Config, strategy):
  """(compiled GAN, fixed noise, precision policy) of a run of `config` (its class count
  resolved: config.resolve_classes): the global seed, the precision policy
  (devices.set_precision: global, read when layers are built), then build.build_gan.
  The one way a GAN is built: setup() builds its run's here, tests and the bench theirs."""
  seed_process(config)  # again: the unseeded draws of the build start alike in any process
  policy = devices.set_precision(config.precision)
  gan, fixed_noise = build.build_gan(config, strategy, policy)
  return gan, fixed_noise, policy


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

  seed_process(config)  # before the data's file order is drawn
  inputs = Input(config, strategy)
  config = config_lib.resolve_classes(config, inputs.source.num_classes)
  total_steps = build.total_steps(config, inputs.source.num_examples)
  out.save_config(config)
  gan, fixed_noise, policy = make_gan(config, strategy)
  logging.info("Training on %s", devices.describe(
      strategy, policy, devices.resolve_jit_compile(config.jit_compile, strategy)))
  logging.info("Config (precision policy %s, conv_impl %s):\n%s", policy,
               devices.resolve_conv_impl(config.conv_impl), config.to_json())

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
  return Run(config=config, strategy=strategy, policy=policy, workdir=run_dir, out=out,
             input=inputs, total_steps=total_steps, gan=gan, fixed_noise=fixed_noise,
             guard=guard, checkpoints=run_checkpoints, restored=restored,
             start_step=start_step, dataset=inputs.dataset(start_step))
