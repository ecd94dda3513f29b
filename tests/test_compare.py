"""vaelab-compare on run directories written here by hand, some of them broken.

The layout is the one a run leaves (README, "What a run leaves"): `.hydra/overrides.yaml`
(a YAML list of overrides), `metrics.json`, `status.json` and `history.jsonl`.
"""

from __future__ import annotations

import csv
import itertools
import json
import logging
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats

from tests.conftest import fill
from tests.helpers import warm
from tests.helpers.run_dirs import write_run
from vaelab.compare.cli import main
from vaelab.compare.plots import iso_elbo_levels, plane_points
from vaelab.compare.runs import choose_curve, find_runs, read_run
from vaelab.compare.study import plot_study, rank_correlation, regularisation, strength_curves
from vaelab.metrics.names import SCORE_KEYS as DISENTANGLEMENT


def rows(epochs: dict[int, float]) -> list[dict]:
    return [{"epoch": e, "step": 10 * (e + 1), "val/loss": v, "val/nll": v - 1} for e, v in epochs.items()]


@pytest.fixture
def sweep(tmp_path) -> Path:
    """Three runs: 0 fine (with a resumed, repeated epoch), 1 with an empty status.json, 2 with its last
    history line cut short by a full disk and the best test/nll."""
    sweep = tmp_path / "sweep"
    history0 = [*rows({0: 120.0, 1: 110.0}), *rows({1: 109.0, 2: 100.0})]  # resumed after epoch 1
    write_run(
        sweep / "0",
        ["objective.beta=0.5", "model.latent_dim=2"],
        {"test/nll": 95.5, "test/elbo": -99.0},
        {"state": "finished"},
        history0,
    )
    write_run(
        sweep / "1",
        ["objective.beta=1.0", "model.latent_dim=2"],
        {"test/nll": 80.0, "test/elbo": -85.0},
        "",
        rows({0: 118.0}),
    )
    good = "".join(json.dumps(row) + "\n" for row in rows({0: 115.0, 1: 105.0}))
    cut = json.dumps(rows({2: 98.0})[0])[:25]
    write_run(
        sweep / "2",
        ["objective.beta=2.0", "model.latent_dim=2"],
        {"test/nll": 90.25, "test/elbo": -94.0},
        {"state": "finished"},
        good + cut,
    )
    return sweep


def test_broken_runs_are_listed_and_the_others_compared(sweep, capsys):
    assert main([f"folders={sweep}"]) == 0
    out = sweep / "comparison"
    table = (out / "comparison.md").read_text()
    lines = table.splitlines()
    body = [line for line in lines if line.split(" | ")[0][2:] in ("0", "1", "2")]
    # Best test/nll first; the broken run last, whatever its metrics. Runs are named by their
    # folder below the one compared: the table reads the same wherever the sweep is moved.
    assert [line.split(" | ")[0][2:] for line in body] == ["2", "0", "1"]
    assert [line.split(" | ")[1] for line in body] == ["finished", "finished", "broken"]
    assert "- 1: status.json: empty" in lines and str(sweep) not in table
    assert (
        "- 2: history.jsonl line 3: not JSON (Expecting property name enclosed in double quotes: column 26), "
        "the last line, cut short; kept the 2 rows before it"
    ) in lines
    assert table == capsys.readouterr().out.rstrip("\n") + "\n"

    with (out / "comparison.csv").open() as f:
        header, *csv_rows = list(csv.reader(f))
    assert header == ["run", "state", "objective.beta", "test/nll", "test/elbo", "note"]
    assert [r[:4] for r in csv_rows] == [
        ["2", "finished", "2.0", "90.2500"],
        ["0", "finished", "0.5", "95.5000"],
        ["1", "broken", "1.0", "80.0000"],
    ]
    assert csv_rows[2][-1] == "status.json: empty" and csv_rows[1][-1] == ""
    assert (out / "test_nll_vs_objective.beta.png").stat().st_size > 1000
    assert (out / "val_curves.png").stat().st_size > 1000


def test_runs_are_named_below_the_folders_common_parent(sweep, tmp_path):
    def names(*folders: Path) -> list[str]:
        assert main([f"folders=[{','.join(map(str, folders))}]", f"out={tmp_path / 'out'}"]) == 0
        with (tmp_path / "out" / "comparison.csv").open() as f:
            return sorted(row["run"] for row in csv.DictReader(f))

    assert names(sweep / "0", sweep / "2") == ["0", "2"]
    assert names(sweep / "2") == ["2"]  # a run compared alone: its own name
    assert names(sweep.parent) == [f"{sweep.name}/{n}" for n in ("0", "1", "2")]


def test_history_keeps_good_rows_and_the_last_row_of_a_repeated_epoch(sweep):
    run0, run2 = read_run(sweep / "0"), read_run(sweep / "2")
    assert [(r["epoch"], r["val/loss"]) for r in run0["history"]] == [(0, 120.0), (1, 109.0), (2, 100.0)]
    assert run0["problems"] == [] and run0["state"] == "finished"
    assert [r["epoch"] for r in run2["history"]] == [0, 1] and run2["state"] == "finished"


@pytest.mark.parametrize(
    "broken, reason",
    [
        ({"metrics": '{"test/nll": 9'}, "metrics.json: not JSON (Expecting ',' delimiter: line 1 column 15)"),
        ({"metrics": "[1, 2]"}, "metrics.json: not a JSON object (it holds a list)"),
        ({"status": '{"state": "fin'}, "status.json: not JSON (Unterminated string starting at: line 1 column 11)"),
        ({"overrides": "- objective.beta=1\n- [oops"}, ".hydra/overrides.yaml: not YAML ("),
        ({"overrides": "objective.beta: 1\n"}, ".hydra/overrides.yaml: not a list of overrides (key=value strings)"),
        ({"overrides": ""}, ".hydra/overrides.yaml: empty"),
        (
            {"history": '{"epoch": 0, "val/loss": 1.0}\n{"epoch": 1, "val/lo\n{"epoch": 2, "val/loss": 0.5}\n'},
            "history.jsonl line 2: not JSON (Unterminated string starting at: column 14)",
        ),
        ({"history": '{"val/loss": 1.0}\n'}, 'history.jsonl line 1: not an object with an integer "epoch"'),
    ],
)
def test_each_broken_file_is_named(tmp_path, broken, reason):
    files = {"overrides": ["objective.beta=1"], "metrics": {"test/nll": 90.0}, "status": {"state": "finished"}}
    run = read_run(write_run(tmp_path / "run", **{**files, **broken}))
    assert run["state"] == "broken"
    assert run["problems"][0].startswith(reason)


@pytest.mark.parametrize(
    "config, reason",
    [
        (
            "seed: 42\nmodel: {latent_dim: [2\n",
            ".hydra/config.yaml: not YAML (expected ',' or ']', but got '<stream end>'",
        ),
        ("- seed: 42\n", ".hydra/config.yaml: not a YAML mapping of settings (it holds a list)"),
        ("", ".hydra/config.yaml: empty"),
    ],
)
def test_a_run_whose_config_is_unreadable_is_broken_not_finished(tmp_path, capsys, config, reason):
    run = write_run(tmp_path / "sweep" / "0", ["objective.beta=1"], {"test/nll": 90.0}, {"state": "finished"})
    (run / ".hydra" / "config.yaml").write_text(config)
    found = read_run(run)
    assert found["state"] == "broken" and found["problems"][0].startswith(reason), found["problems"]
    assert main([f"folders={tmp_path / 'sweep'}"]) == 0
    assert f"- 0: {reason}" in capsys.readouterr().out


def test_unknown_metric_is_one_line_and_writes_nothing(sweep, capsys):
    assert main([f"folders={sweep}", "metric=test/nope"]) == 1
    err = capsys.readouterr().err
    assert err == ("error: metric=test/nope: no run has it; metrics found: test/elbo, test/nll, val/loss, val/nll\n")
    assert not (sweep / "comparison").exists()
    # A metric only the histories have is accepted.
    assert main([f"folders={sweep}", "metric=val/nll", f"out={sweep / 'by_val'}"]) == 0


def test_a_missing_folder_is_one_line(tmp_path, capsys):
    assert main([f"folders={tmp_path / 'nowhere'}"]) == 1
    assert capsys.readouterr().err == f"error: {tmp_path / 'nowhere'}: no such directory\n"
    (tmp_path / "file").write_text("x")
    assert main([f"folders={tmp_path / 'file'}"]) == 1
    assert capsys.readouterr().err.count("\n") == 1
    assert main([f"folders={tmp_path}"]) == 1
    assert capsys.readouterr().err == f"error: no run directories (with .hydra/overrides.yaml) below {tmp_path}\n"


def test_a_full_disk_is_one_line(sweep, capsys, tmpfs):
    out = tmpfs(64 * 1024)
    fill(out)  # a real full disk: the tables cannot be written
    assert main([f"folders={sweep}", f"out={out / 'comparison'}"]) == 1
    assert capsys.readouterr().err.startswith("error: no space left on device while writing")


# (beta, rate R, distortion D) per split: the plane's points, written into metrics.json.
PLANE = {
    "test": {"0.5": (24.0, 181.5), "1.0": (15.25, 187.0), "4.0": (3.5, 232.75)},
    "val": {"0.5": (23.0, 183.0), "1.0": (14.5, 188.25), "4.0": (3.0, 230.0)},
}


def plane_metrics(beta: str) -> dict[str, float]:
    metrics = {}
    for split, points in PLANE.items():
        rate, distortion = points[beta]
        metrics |= {f"{split}/kl": rate, f"{split}/recon": distortion, f"{split}/elbo": -(rate + distortion)}
    return metrics | {"test/nll": PLANE["test"][beta][1] + 1.0}


@pytest.fixture
def plane_sweep(tmp_path) -> Path:
    """Three finished runs at known (R, D), a failed one without metrics and a broken one (an empty
    status.json) whose metrics would make a point."""
    sweep = tmp_path / "plane"
    curves = [{"epoch": 0, "step": 5, "val/loss": 210.0, "val/elbo": -205.0, "val/nll": 200.0}]
    for n, beta in enumerate(PLANE["test"]):
        write_run(sweep / str(n), [f"objective.beta={beta}"], plane_metrics(beta), {"state": "finished"}, curves)
    write_run(sweep / "3", ["objective.beta=-1"], None, {"state": "failed", "error": "ValueError: beta < 0"})
    write_run(sweep / "4", ["objective.beta=2.0"], {"test/kl": 9.0, "test/recon": 199.0, "test/nll": 1.0}, "")
    return sweep


def test_rate_distortion_plane_of_a_sweep(plane_sweep):
    assert main([f"folders={plane_sweep}"]) == 0
    out = plane_sweep / "comparison"
    assert (out / "rate_distortion.png").stat().st_size > 1000
    runs = find_runs([plane_sweep])
    for split, points in PLANE.items():
        # One point per finished run, at its metrics; the failed and the broken run have none.
        expected = [(f"objective.beta={beta}", rate, distortion) for beta, (rate, distortion) in points.items()]
        assert plane_points(runs, split) == expected
    # The table has the rate and distortion of every run that has them, the broken one's too.
    with (out / "comparison.csv").open() as f:
        header, *rows = list(csv.reader(f))
    by_run = {row[0]: dict(zip(header, row)) for row in rows}
    for n, (rate, distortion) in enumerate(PLANE["test"].values()):
        row = by_run[str(n)]
        assert (float(row["test/kl"]), float(row["test/recon"])) == (rate, distortion)
    assert by_run["4"]["state"] == "broken" and by_run["3"]["test/kl"] == ""

    assert main([f"folders={plane_sweep}", "split=val", f"out={plane_sweep / 'val'}"]) == 0
    assert "Rate R = val/kl, distortion D = val/recon" in (plane_sweep / "val" / "comparison.md").read_text()


def check_levels(points, levels):
    """Evenly spaced round values (a step of 1, 2, 2.5 or 5 times a power of ten) whose first and last
    are the tightest such values bracketing every point's R + D."""
    sums = [rate + distortion for _, rate, distortion in points]
    steps = np.diff(levels)
    assert len(levels) >= 2 and np.allclose(steps, steps[0], rtol=1e-9)
    mantissa = steps[0] / 10 ** math.floor(math.log10(steps[0]))
    assert any(math.isclose(mantissa, m) for m in (1, 2, 2.5, 5))
    assert all(math.isclose(level / steps[0], round(level / steps[0]), abs_tol=1e-9) for level in levels)
    assert levels[0] <= min(sums) and levels[-1] >= max(sums)
    if len(set(sums)) > 1:
        assert levels[1] > min(sums) and levels[-2] < max(sums)


def test_iso_elbo_levels_bracket_the_points(plane_sweep):
    points = plane_points(find_runs([plane_sweep]), "test")
    check_levels(points, iso_elbo_levels(points))
    rng = np.random.default_rng(0)
    for _ in range(200):
        n, scale = rng.integers(1, 6), 10.0 ** rng.integers(-2, 4)
        rates, distortions = rng.uniform(0, scale, n), rng.uniform(-scale, 3 * scale, n)
        points = [("run", float(r), float(d)) for r, d in zip(rates, distortions)]
        check_levels(points, iso_elbo_levels(points))
    check_levels([("one", 0.1, 0.2)], iso_elbo_levels([("one", 0.1, 0.2)]))  # 0.30000000000000004
    assert iso_elbo_levels([]) == []


def test_curve_defaults_to_val_elbo_or_the_metric_an_optuna_study_optimised(plane_sweep, tmp_path):
    assert choose_curve(find_runs([plane_sweep])) == "val/elbo"
    # Every run carries conf/train.yaml's optimized_metric; a grid sweep optimised nothing.
    grid, study = tmp_path / "grid", tmp_path / "study"
    for sweep, sweeper in ((grid, "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"), (study, "x.Optuna")):
        for n, metric in enumerate(("val/loss", "val/nll")):
            run = write_run(sweep / str(n), [f"objective.beta={n}"], {"test/nll": 1.0}, None, rows({0: 9.0}))
            (run / ".hydra" / "config.yaml").write_text(f"optimized_metric: {metric if sweep == grid else 'val/nll'}\n")
            (run / ".hydra" / "hydra.yaml").write_text(f"hydra:\n  sweeper:\n    _target_: {sweeper}\n")
    # rows() has no val/elbo: the grid's curve falls back to val/loss; the study's is its metric.
    assert choose_curve(find_runs([grid])) == "val/loss"
    assert choose_curve(find_runs([study])) == "val/nll"
    assert choose_curve(find_runs([study]), "val/loss") == "val/loss"


def test_an_unknown_curve_is_one_line_and_writes_nothing(plane_sweep, capsys):
    assert main([f"folders={plane_sweep}", "curve=val/nope"]) == 1
    assert capsys.readouterr().err == (
        "error: curve=val/nope: no run's history has it; curves found: val/elbo, val/loss, val/nll\n"
    )
    assert not (plane_sweep / "comparison").exists()
    assert main([f"folders={plane_sweep}", "curve=val/nll"]) == 0


# ------------------------------------------------- disentanglement study plots (vaelab.compare.study)

# (objective override, strength knob, strength): the study's grid; two seeds each.
STUDY = [("elbo", "beta", 1.0), ("elbo", "beta", 4.0), ("beta_tcvae", "beta", 1.0), ("beta_tcvae", "beta", 6.0)]


def study_scores(rng: np.random.Generator) -> dict[str, float]:
    """Scores of one run: random, with ties (FactorVAE's votes: a few values), and one score the
    same in every run (no ranks: n/a in the correlation)."""
    scores = {f"test/{s}": float(rng.uniform()) for s in DISENTANGLEMENT}
    scores["test/factor_vae_score"] = float(rng.integers(3)) / 2
    scores["test/dci_informativeness"] = 0.75
    return scores | {"test/nll": 80.0, "test/mig_seconds": 1.5}


@pytest.fixture
def study_sweep(tmp_path) -> Path:
    """8 runs of ELBO and beta-TCVAE found from their overrides, 2 FactorVAE runs whose strength
    only their resolved config.yaml says (as a study.level override leaves it), a DIP-VAE-II run,
    an IWAE run (no strength) and a broken run (empty status.json) that has scores."""
    rng = np.random.default_rng(11)
    sweep, n = tmp_path / "study", 0
    for objective, knob, strength in STUDY:
        for seed in (0, 1):
            overrides = [f"objective={objective}", f"objective.{knob}={strength}", f"seed={seed}"]
            write_run(sweep / str(n), overrides, study_scores(rng), {"state": "finished"})
            n += 1
    configs = [
        {"_target_": "vaelab.objectives.FactorVAE", "gamma": 35.0, "latent_dim": 10},
        {"_target_": "vaelab.objectives.FactorVAE", "gamma": 35.0, "latent_dim": 10},
        {"_target_": "vaelab.objectives.DIPVAE", "variant": "ii", "lambda_od": 5.0, "lambda_d": 5.0},
        {"_target_": "vaelab.objectives.IWAE", "num_samples": 5},
    ]
    for seed, objective in enumerate(configs):
        run = write_run(sweep / str(n), ["study.level=mid", f"seed={seed}"], study_scores(rng), {"state": "finished"})
        (run / "config.yaml").write_text(yaml.safe_dump({"objective": objective, "seed": seed}))
        n += 1
    write_run(sweep / str(n), ["objective=elbo", "objective.beta=4.0"], study_scores(rng), "")
    return sweep


def test_study_scores_are_columns_and_plots(study_sweep, plane_sweep):
    assert main([f"folders={study_sweep}", "metric=test/mig", "mode=max"]) == 0
    out = study_sweep / "comparison"
    with (out / "comparison.csv").open() as f:
        header, *rows = list(csv.reader(f))
    scores = [f"test/{s}" for s in DISENTANGLEMENT]
    assert header[header.index("test/mig") :][: len(scores) + 1] == ["test/mig", "test/nll", *scores[1:]]
    finished = [float(r[header.index("test/mig")]) for r in rows if r[1] == "finished"]
    assert finished == sorted(finished, reverse=True) and len(finished) == 12
    for name in ("disentanglement_vs_strength.png", "rank_correlation.png"):
        assert (out / name).stat().st_size > 5000
    # Runs without scores get neither plot.
    assert plot_study(find_runs([plane_sweep]), "test", plane_sweep) == []
    assert not list(plane_sweep.glob("*.png"))


def test_each_run_is_placed_at_its_objective_and_strength(study_sweep):
    runs = {r["dir"].name: r for r in find_runs([study_sweep])}
    assert regularisation(runs["0"]) == ("elbo", "beta", 1.0) and regularisation(runs["7"]) == (
        "beta_tcvae",
        "beta",
        6.0,
    )
    assert regularisation(runs["8"]) == ("factor_vae", "gamma", 35.0)  # from config.yaml
    assert regularisation(runs["10"]) == ("dip_vae_ii", "lambda_od", 5.0) and regularisation(runs["11"]) is None
    curves = strength_curves(list(runs.values()), "test/sap")
    expected = {}
    for n, (objective, knob, strength) in enumerate(np.repeat(np.array(STUDY, dtype=object), 2, axis=0)):
        expected.setdefault(f"{objective} ({knob})", {}).setdefault(strength, []).append(
            runs[str(n)]["metrics"]["test/sap"]
        )
    expected["factor_vae (gamma)"] = {35.0: [runs[str(n)]["metrics"]["test/sap"] for n in (8, 9)]}
    expected["dip_vae_ii (lambda_od)"] = {5.0: [runs["10"]["metrics"]["test/sap"]]}
    assert curves == expected  # the broken run 12 is in no curve


def test_rank_correlation_is_scipys_spearman_over_the_complete_runs(study_sweep):
    runs = find_runs([study_sweep])
    names, rho, n = rank_correlation(runs)
    assert names == [f"test/{s}" for s in DISENTANGLEMENT] and n == 12  # not the broken run
    table = np.array([[r["metrics"][k] for k in names] for r in runs if r["state"] != "broken"])
    expected = np.full((len(names), len(names)), np.nan)
    for i, j in itertools.product(range(len(names)), repeat=2):
        if table[:, i].std() > 0 and table[:, j].std() > 0:
            expected[i, j] = stats.spearmanr(table[:, i], table[:, j]).statistic
    np.testing.assert_allclose(rho, expected, rtol=1e-12, equal_nan=True)
    # And Spearman's definition: the Pearson correlation of the ranks (ties at their mean rank).
    ranks = stats.rankdata(table, axis=0)
    i, j = names.index("test/mig"), names.index("test/factor_vae_score")
    assert math.isclose(rho[i, j], np.corrcoef(ranks[:, i], ranks[:, j])[0, 1], rel_tol=1e-12)
    assert np.isnan(rho[names.index("test/dci_informativeness")]).all()
    assert rank_correlation(runs[:2]) is None  # two runs have no rank correlation to show


def test_vaelab_compare_reads_the_score_names_without_torch():
    # The names are defined once (vaelab.metrics.names), in a module that loads no torch: a fresh
    # process that imports vaelab-compare has not imported torch or scikit-learn.
    import subprocess
    import sys

    code = "import sys, vaelab.compare.cli; print(sorted({'torch', 'sklearn'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_folder_given_as_a_word_says_how_to_name_it(sweep, capsys):
    """vaelab-compare is a Hydra app: its settings are key=value, the folders too."""
    assert main([str(sweep), "metric=test/nll"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"give the folders as folders={sweep} (several:" in err
    assert not (sweep / "comparison").exists()


@pytest.mark.parametrize("command", [["-m", "vaelab.compare.cli"], ["compare.py"]])
def test_the_module_and_the_script_run_the_app(sweep, tmp_path, command):
    """What scripts/run_study.sh and a clone's user start (a process of its own, forked warm)."""
    out = tmp_path / "out"
    done = warm.run(
        [sys.executable, *command, f"folders={sweep}", f"out={out}"],
        cwd=warm.ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (out / "comparison.md").is_file() and "Runs sorted by test/nll" in done.stdout


def test_the_app_leaves_logging_as_it_found_it(sweep, caplog):
    """Run in-process (a sweep's end, a notebook, these tests), the app does not silence the
    process's existing loggers, as Hydra's `disabled` logging config would."""
    logger = logging.getLogger("vaelab.runs.lock")
    assert main([f"folders={sweep}"]) == 0
    with caplog.at_level(logging.WARNING, logger="vaelab.runs.lock"):
        logger.warning("still heard")
    assert not logger.disabled and "still heard" in caplog.text
