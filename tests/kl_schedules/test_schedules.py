"""KL weight schedules at chosen steps, with the expected factors worked out by hand from each
paper's formula, and the training system following the schedule at the trainer's global step.

Cyclical annealing (Fu et al., 2019, eq. 5), T total steps, M cycles, ratio R:
    tau = mod(t, ceil(T / M)) / (T / M),   f = tau / R if tau <= R else 1,
held at 1 from t = T on (the paper's schedule ends at T; vaelab keeps the full weight after it).
Linear warm-up (Bowman et al., 2016): f = min(1, t / steps).
"""

from __future__ import annotations

import csv
import math

import pytest

from vaelab.kl_schedules import Constant, Cyclical, Linear
from vaelab.runs.train import train


def test_constant_is_one_always():
    schedule = Constant()
    assert all(schedule(t) == 1.0 for t in (0, 1, 7, 10_000, 10**9))


@pytest.mark.parametrize(("step", "expected"), [(0, 0.0), (5, 0.5), (10, 1.0), (20, 1.0)])
def test_linear(step, expected):
    assert Linear(steps=10)(step) == pytest.approx(expected, abs=1e-12)


def test_linear_with_no_warm_up_is_one():
    assert all(Linear(steps=0)(t) == 1.0 for t in (0, 1, 100))


# T = 100, M = 4: the period T / M = 25 = ceil(T / M). R = 0.5: the weight rises over 12.5 steps.
#   t = 0:  tau = 0                  -> 0
#   t = 12: tau = 12 / 25 = 0.48     -> 0.48 / 0.5 = 0.96
#   t = 25: tau = 0 (second cycle)   -> 0
#   t = 37: tau = 12 / 25 = 0.48     -> 0.96
#   t = 50: tau = 0 (third cycle)    -> 0
#   t = 99: tau = 24 / 25 = 0.96 > R -> 1
#   t = 100, 1000: t >= T            -> 1
@pytest.mark.parametrize(
    ("step", "expected"),
    [(0, 0.0), (12, 0.96), (25, 0.0), (37, 0.96), (50, 0.0), (99, 1.0), (100, 1.0), (1000, 1.0)],
)
def test_cyclical(step, expected):
    assert Cyclical(total_steps=100, cycles=4, ratio=0.5)(step) == pytest.approx(expected, abs=1e-12)


# T = 10, M = 3: T / M = 10/3 but a cycle lasts ceil(10/3) = 4 steps (cycles start at 0, 4, 8).
#   t = 1: tau = 1 / (10/3) = 0.3 -> 0.3 / 0.5 = 0.6
#   t = 3: tau = 3 / (10/3) = 0.9 -> 1
#   t = 4: tau = 0 (second cycle) -> 0
#   t = 9: tau = 1 / (10/3) = 0.3 -> 0.6
@pytest.mark.parametrize(("step", "expected"), [(1, 0.6), (3, 1.0), (4, 0.0), (9, 0.6)])
def test_cyclical_period_that_is_not_a_whole_number_of_steps(step, expected):
    assert Cyclical(total_steps=10, cycles=3, ratio=0.5)(step) == pytest.approx(expected, abs=1e-12)


def fu_cyclical(t: int, total: int, cycles: int, ratio: float) -> float:
    """Fu et al. (2019), eq. 5, written out independently of vaelab's implementation."""
    if t >= total:
        return 1.0
    tau = (t % math.ceil(total / cycles)) / (total / cycles)
    return tau / ratio if tau <= ratio else 1.0


def test_system_follows_the_schedule_at_the_global_step(cfg_factory):
    # 3 batches x 4 epochs = 12 steps: two cycles of 4 over 8 steps, then 4 held at 1.
    cfg = cfg_factory(
        "kl_schedule=cyclical",
        "kl_schedule.total_steps=8",
        "kl_schedule.cycles=2",
        "trainer.log_every_n_steps=1",
        "trainer.max_epochs=4",
        "logger=csv",
        "callbacks=none",  # no checkpoints or image grids: only the schedule matters here
        "test=false",
    )
    train(cfg)
    with open(f"{cfg.paths.output_dir}/csv/metrics.csv") as f:
        # The ELBO objective has beta = 1, so train/beta_now is the schedule's factor itself.
        logged = {int(r["step"]): float(r["train/beta_now"]) for r in csv.DictReader(f) if r["train/beta_now"]}
    assert sorted(logged) == list(range(12))
    expected = {t: fu_cyclical(t, 8, 2, 0.5) for t in logged}
    assert logged == pytest.approx(expected, abs=1e-6)
    assert {0.0, 0.5, 1.0} <= set(logged.values())  # the run saw the rise, not only the plateau
