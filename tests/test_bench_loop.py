"""bench --loop: the whole training loop against the bare step, on the same model."""

import pytest

from conftest import tiny


def test_rate_is_timed_from_the_first_round_past_the_warm_up():
  from dcgan_tf.bench.loop import _rate
  # (steps done, seconds) at each round's end; rounds of 2 steps; warm-up 3 steps.
  marks = [(2, 10.0), (4, 11.0), (6, 11.5), (8, 12.0)]
  rate, timed = _rate(marks, warmup=3, batch_size=8)
  assert timed == 4 and rate == pytest.approx(4 * 8 / 1.0)  # steps 4 -> 8 in 1 s


def test_round_clock_counts_steps_across_fits():
  """fit_steps may split a run into several fits: the clock's step counts keep growing."""
  from dcgan_tf.bench.loop import RoundClock
  clock = RoundClock()
  clock.on_train_begin()
  for batch in (1, 3):  # rounds of 2 steps
    clock.on_train_batch_end(batch)
  clock.on_train_begin()  # a second, shorter fit of 1 step
  clock.on_train_batch_end(0)
  assert [s for s, _ in clock.marks] == [2, 4, 5]


@pytest.mark.heavy
def test_compare_runs_the_product_loop_and_the_bare_step(monkeypatch):
  from dcgan_tf.bench import loop as bench_loop
  from dcgan_tf.train import loop
  runs = []
  train = loop.train

  def spy(config, workdir, **kw):
    runs.append(config)
    return train(config, workdir, **kw)

  monkeypatch.setattr(loop, "train", spy)
  row = bench_loop.compare(tiny(steps_per_execution="2", log_every=2), steps=6, warmup=3)
  assert row["kind"] == "loop" and row["steps_per_execution"] == 2 and row["ema"]
  # The product's run, its length warm-up + the timed steps, EMA on, no export. A warm-up
  # off the multiples of steps_per_execution is rounded up: 3 -> 4 (two rounds of 2).
  assert len(runs) == 1 and runs[0].train_steps == 10 and not runs[0].export
  assert row["loop_steps_timed"] == 6 and row["ratio"] > 0  # rounds ending at 6, 8, 10
  # The row rounds ratio to 1e-3 and images/s to 0.1: the recomputed values agree to that.
  assert row["ratio"] == pytest.approx(row["loop_img_per_s"] / row["step_img_per_s"], abs=2e-3)
  assert row["step_ms"] == pytest.approx(1000 * 16 / row["step_img_per_s"], rel=1e-3)
