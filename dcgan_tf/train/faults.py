"""Fault handling of a run: non-finite steps roll back, signals stop cleanly.

  NaN / Inf     NonFiniteGuard stops fit at the first non-finite loss (and
                checkpoints.RunCheckpoints refuses to save non-finite weights); the fit
                (train/loop.py) restores the last checkpoint, reshuffles the data
                (data.data_seed) and goes on while Rollbacks allows: at most --max_rollbacks
                times in a row, then it stops naming the step.
  SIGINT/TERM   SignalStop lets the current step finish and stops fit; the caller
                checkpoints that step and does not export (the run is unfinished).
                A second signal interrupts at once (checkpoint writes are atomic).
  multi-worker  a signal to one worker only must stop all of them at one step, or the
                others hang in (or abort) a collective: CoordinatedStop lets
                TensorFlow's PreemptionCheckpointHandler agree on the step, every worker
                checkpoints it (the chief's copy is the run's) and stops. A worker that
                dies without notice (kill -9) is reported by the coordination service's
                heartbeats within seconds; worker_lost() turns that into one line.
Checkpoints are only ever written from finite variables, so the newest one is
always a good state to roll back to.
"""

import math
import os
import shutil
import signal
import tempfile
import threading

import tensorflow as tf
from absl import logging

from dcgan_tf.errors import UserError, error_text
from dcgan_tf.train.callbacks import Action


class NonFiniteGuard(Action):
  """Stops fit at the first non-finite loss or metric and records the step.

  Keras' Mean trackers average over one fit call, so a single NaN step keeps every
  later log NaN: checking each step's logs finds the step it happened at.
  """

  def __init__(self, gan):
    super().__init__()
    self.gan = gan
    self.reset()

  def reset(self):
    self.step, self.what = None, ""  # step: first bad generator step, None = all finite

  @property
  def tripped(self):
    return self.step is not None

  def trip(self, step, what):
    if not self.tripped:
      self.step, self.what = step, what
      logging.warning("Non-finite %s at step %d: stopping to roll back", what, step)
    self.gan.stop_training = True

  def after(self, previous, step, logs):
    # The logs are running means since the last log line: a NaN in any step of a round of
    # steps_per_execution steps shows, named by the round's last step (the rollback
    # restores the same checkpoint either way).
    bad = sorted(k for k, v in logs.items() if not math.isfinite(v))
    if bad:
      self.trip(step, "loss (" + ", ".join(bad) + ")")


class SignalStop(Action):
  """SIGINT / SIGTERM: let the current step finish, then stop fit and checkpoint. Use as
  `with SignalStop(save) as stop:` around training.

  The first signal only sets `signum`; the previous handlers come back at once, so
  a second Ctrl-C (or SIGTERM) interrupts immediately, as without this class.
  Handlers can only be set from the main thread; elsewhere this is a no-op.
  save(): the checkpoint of the current step, written when fit ends on a signal, before
  fit returns: Keras then drops its input iterator, whose teardown (at once, or in a later
  garbage collection) took 15-29 s on 2 CPU cores, while a preemption notice gives ~30 s.
  """

  SIGNALS = (signal.SIGINT, signal.SIGTERM)

  def __init__(self, save=None):
    super().__init__()
    self.save = save
    self.signum = None  # the signal received, None = keep training
    self._previous = {}

  @property
  def signal_name(self):
    return signal.Signals(self.signum).name if self.signum else None

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
    return self

  def __exit__(self, *exc):
    self._restore()
    return False

  def _restore(self):
    for s, handler in self._previous.items():
      signal.signal(s, handler)
    self._previous = {}

  def _handle(self, signum, frame):
    del frame
    self.signum = signum
    self._restore()
    logging.warning("%s received: finishing the current step, then saving a checkpoint "
                    "(send it again to abort at once)", self.signal_name)

  def after(self, previous, step, logs):
    if self.signum is not None:
      self.model.stop_training = True

  def end(self, step):
    if self.signum is not None:
      self.model.stop_training = True  # a signal after this fit's last round: no next fit
      if self.save is not None:
        self.save()


class CoordinatedStop(Action):
  """Multi-worker SIGTERM / SIGINT: every worker stops at the same step after a checkpoint.

  Wraps tf.distribute.experimental.PreemptionCheckpointHandler: the worker that gets
  SIGTERM publishes "checkpoint after call N + 1" through the coordination service;
  each worker, after that many calls of on_train_batch_end, runs `save` (every worker
  joins the save's collectives; only the chief writes the run's folder) and stops
  fit. SIGINT (Ctrl-C on one worker) is turned into SIGTERM so it is coordinated
  too. The same interface as SignalStop: `with CoordinatedStop(...) as stop:`,
  `stop.signum` (SIGTERM once stopped, on every worker).

  The handler's own step counter lives in a throwaway checkpoint (nothing of it goes
  into the run's checkpoints); all workers start it at 0 in the same fit call, which
  is what aligns them.
  """

  always = True  # one call per round on every worker, even on a round the guard rejects

  def __init__(self, strategy, save):
    super().__init__()
    self.strategy, self.save = strategy, save  # save(): checkpoint of the current step
    self.signum = None
    self._folder = None
    self._handler = None
    self._previous_sigint = self._previous_sigterm = None

  @property
  def signal_name(self):
    return signal.Signals(self.signum).name if self.signum else None

  def __enter__(self):
    self._folder = tempfile.mkdtemp(prefix="dcgan_preemption_")
    config = tf.distribute.experimental.TerminationConfig(exit_fn=self._stop, save_fn=self.save)
    main_thread = threading.current_thread() is threading.main_thread()
    if main_thread:
      self._previous_sigterm = signal.getsignal(signal.SIGTERM)  # the handler replaces it
    self._handler = tf.distribute.experimental.PreemptionCheckpointHandler(
        # A sub-folder: non-chief workers make a sibling `workertemp_N` of it.
        self.strategy.cluster_resolver, tf.train.Checkpoint(),
        os.path.join(self._folder, "handler"), config)
    if main_thread:
      self._previous_sigint = signal.signal(signal.SIGINT, self._forward)
    return self

  def __exit__(self, *exc):
    if self._previous_sigint is not None:
      signal.signal(signal.SIGINT, self._previous_sigint)
    if self._previous_sigterm is not None:  # after fit (e.g. the export) SIGTERM acts as usual
      signal.signal(signal.SIGTERM, self._previous_sigterm)
    shutil.rmtree(self._folder, ignore_errors=True)
    return False

  def _forward(self, signum, frame):
    del signum, frame
    signal.signal(signal.SIGINT, self._previous_sigint)  # a second Ctrl-C aborts at once
    self._previous_sigint = None
    signal.raise_signal(signal.SIGTERM)

  def _stop(self):
    self.signum = signal.SIGTERM
    self.model.stop_training = True
    logging.warning("Preemption (SIGTERM to a worker of the cluster): every worker saved "
                    "step %d and stops", int(self.model.step.numpy()))

  def after(self, previous, step, logs):
    # Once per round of steps on every worker: the handler counts calls, not steps.
    if self.signum is None:
      self._handler.save_checkpoint_if_preempted()


def worker_lost(error, step):
  """UserError for an error that says a peer of a multi-worker cluster is gone, else None."""
  if not isinstance(error, (tf.errors.UnavailableError, tf.errors.AbortedError,
                            tf.errors.DeadlineExceededError)):
    return None
  return UserError(
      f"a worker of the cluster stopped or is unreachable ({error_text(error)}); rerun the "
      f"same command on every worker to resume from the newest checkpoint (step {step} or "
      "earlier)")


class Rollbacks:
  """The non-finite policy of a run: roll back to the newest checkpoint, reshuffle, go on;
  give up after more than `max_rollbacks` rollbacks in a row without a checkpoint past
  the failing step (the same NaN again and again). train/loop.py's fit applies it."""

  def __init__(self, max_rollbacks: int):
    self.max_rollbacks = max_rollbacks  # >= 0
    self.count = 0  # rollbacks in this process; each one reseeds the batch order
    self._in_a_row, self._last_bad = 0, -1  # rollbacks since a checkpoint past step _last_bad

  def give_up_unless_allowed(self, guard, run_checkpoints) -> None:
    """Counts the tripped `guard`'s failure; UserError when it is one too many in a row.
    run_checkpoints: the run's checkpoints.RunCheckpoints (its newest good one)."""
    self._in_a_row = 1 if run_checkpoints.last_step > self._last_bad else self._in_a_row + 1
    self._last_bad = guard.step
    if self._in_a_row > self.max_rollbacks:
      raise UserError(
          f"non-finite {guard.what} at step {guard.step}; stopped after {self._in_a_row - 1} "
          f"rollback(s) in a row (max_rollbacks={self.max_rollbacks}). The last good "
          f"checkpoint {run_checkpoints.last_path} is kept: lower g_lr/d_lr or change "
          "seed, then rerun to resume from it")

  def rolled_back(self, guard, restored: str) -> None:
    """Records the rollback to `restored` and re-arms the guard."""
    self.count += 1
    logging.warning("Non-finite %s at step %d: rolled back to %s (rollback %d in a row of at "
                    "most %d), reshuffling the data", guard.what, guard.step, restored,
                    self._in_a_row, self.max_rollbacks)
    guard.reset()
