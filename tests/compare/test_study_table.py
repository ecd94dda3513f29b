"""vaelab.compare.study_table: a study's scores per setting over seeds, and where curves settle,
checked against sums written out here; and history rows of runs that validate within an epoch."""

from __future__ import annotations

import csv
import statistics

import numpy as np
import pytest
import yaml

from tests.helpers.run_dirs import write_run
from vaelab.compare.cli import main
from vaelab.compare.plots import curve_axis
from vaelab.compare.runs import find_runs, read_run
from vaelab.compare.study_table import settle_step


def brute_settle(values: list[float], tol: float) -> int:
    """The definition, read literally: the first index i with |v_j - v_last| <= tol for every j >= i."""
    return next(i for i in range(len(values)) if all(abs(v - values[-1]) <= tol for v in values[i:]))


def test_settle_step_is_the_first_step_from_which_the_curve_stays_near_its_end():
    assert settle_step([(5, 0.10), (10, 0.30), (15, 0.31), (20, 0.32)], 0.03) == (10, True)
    assert settle_step([(5, 0.1), (10, 0.2), (15, 0.3)], 0.03) == (15, False)  # still rising at its end
    # A value back inside the band after leaving it does not count: the band must hold to the end.
    assert settle_step([(1, 0.30), (2, 0.10), (3, 0.31), (4, 0.30)], 0.03) == (3, True)
    assert settle_step([(7, 0.5)], 0.03) == (7, False) and settle_step([], 0.03) is None
    rng = np.random.default_rng(3)
    for _ in range(200):
        values = np.cumsum(rng.normal(0.0, 0.02, size=rng.integers(1, 12))).tolist()
        steps = [5000 * (i + 1) for i in range(len(values))]
        first = brute_settle(values, 0.03)
        assert settle_step(list(zip(steps, values)), 0.03) == (steps[first], first < len(values) - 1)


def history(values: list[float]) -> list[dict]:
    """Validation every 5,000 steps, two per epoch (trainer.val_check_interval)."""
    return [{"epoch": i // 2, "step": 5000 * (i + 1), "val/mig": v} for i, v in enumerate(values)]


SCORES = {  # (objective, strength) -> test/mig of seeds 0, 1, 2
    ("elbo", 1.0): [0.15, 0.26, 0.20],
    ("beta_tcvae", 4.0): [0.33, 0.34, 0.29],
}
CURVES = {  # seed -> val/mig every 5,000 steps
    0: [0.05, 0.29, 0.30, 0.31],  # settles at 10,000
    1: [0.05, 0.10, 0.15, 0.20],  # still rising
    2: [0.30, 0.30, 0.31, 0.30],  # settled from the start
}


@pytest.fixture
def study(tmp_path):
    """Two settings x three seeds, written out of seed order, a broken run with scores, a run still
    training, and a run of an objective without a strength (IWAE)."""
    root, n = tmp_path / "study", 0
    for (objective, strength), migs in SCORES.items():
        for seed in (2, 0, 1):
            metrics = {"test/mig": migs[seed], "test/sap": 0.01 * (seed + 1)}
            overrides = [f"objective={objective}", f"objective.beta={strength}", f"seed={seed}"]
            write_run(root / f"{n}", overrides, metrics, {"state": "finished"}, history(CURVES[seed]))
            n += 1
    write_run(root / "broken", ["objective=elbo", "objective.beta=1.0", "seed=3"], {"test/mig": 0.9}, "")
    running = ["objective=elbo", "objective.beta=1.0", "seed=4"]  # still training: a curve, no scores yet
    write_run(root / "running", running, None, {"state": "running"}, history(CURVES[1][:2]))
    iwae = write_run(root / "iwae", ["seed=0"], {"test/mig": 0.5}, {"state": "finished"})
    (iwae / "config.yaml").write_text(yaml.safe_dump({"objective": {"_target_": "vaelab.objectives.IWAE"}}))
    return root


def test_study_table_has_each_settings_mean_and_sd_over_seeds_and_each_seeds_settle_step(study, tmp_path):
    out = tmp_path / "out"
    args = [f"folders={study}", "metric=test/mig", "mode=max", "curve=val/mig", f"out={out}"]
    assert main(args) == 0
    with (out / "study.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["objective"], float(r["strength"]), r["seeds"]) for r in rows] == [
        ("elbo", 1.0, "3"),  # the broken, the running and the IWAE run are in no setting
        ("beta_tcvae", 4.0, "3"),
    ]
    settle = "val/mig settles at (step, each seed; ±0.03)"
    for row, migs in zip(rows, SCORES.values()):
        assert float(row["test/mig mean"]) == pytest.approx(statistics.fmean(migs), abs=1e-12)
        assert float(row["test/mig sd"]) == pytest.approx(statistics.stdev(migs), abs=1e-12)
        assert (float(row["test/mig min"]), float(row["test/mig max"])) == (min(migs), max(migs))
        assert float(row["test/sap mean"]) == pytest.approx(0.02)
        assert row[settle] == "10000, not by 20000, 5000"  # seeds 0, 1, 2
    table = (out / "study.md").read_text()
    mean, sd = statistics.fmean(SCORES["elbo", 1.0]), statistics.stdev(SCORES["elbo", 1.0])
    assert f"| elbo | beta = 1 | 3 | {mean:.3f} ± {sd:.3f} | 0.020 ± 0.010 | 10000, not by 20000, 5000 |" in table


def test_no_study_table_without_scores_and_a_bad_tolerance_is_one_line(study, tmp_path, capsys):
    plain = write_run(tmp_path / "plain" / "0", ["objective.beta=1"], {"test/nll": 90.0}, {"state": "finished"})
    assert main([f"folders={plain.parent}", f"out={tmp_path / 'o1'}"]) == 0
    assert not (tmp_path / "o1" / "study.md").exists() and (tmp_path / "o1" / "comparison.md").exists()
    capsys.readouterr()
    for bad in ("0", "-0.1", "nan"):
        assert main([f"folders={study}", "metric=test/mig", f"settle_tol={bad}", f"out={tmp_path / 'o2'}"]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"error: settle_tol={bad}: "), err
    assert not (tmp_path / "o2").exists()  # nothing written


def test_every_validation_of_an_epoch_is_kept_and_the_curve_is_drawn_against_steps(study):
    run = read_run(study / "0")
    assert [(r["epoch"], r["step"]) for r in run["history"]] == [(0, 5000), (0, 10000), (1, 15000), (1, 20000)]
    assert curve_axis(find_runs([study])) == "step"
    # A validation repeated by a resumed run (the same step): the last row is kept.
    rows = history([0.1, 0.2]) + [{"epoch": 0, "step": 10000, "val/mig": 0.25}]
    resumed = write_run(study.parent / "resumed" / "0", ["seed=0"], None, {"state": "finished"}, rows)
    assert [r["val/mig"] for r in read_run(resumed)["history"]] == [0.1, 0.25]
    # One validation an epoch: the curve is drawn against epochs, as before.
    once = [{"epoch": e, "step": 10 * (e + 1), "val/mig": 0.1} for e in range(3)]
    write_run(study.parent / "epochs" / "0", ["seed=0"], None, {"state": "finished"}, once)
    assert curve_axis(find_runs([study.parent / "epochs"])) == "epoch"
