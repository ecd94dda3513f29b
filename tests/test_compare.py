"""vaelab-compare on run directories written here by hand, some of them broken.

The layout is the one a run leaves (README, "What a run leaves"): `.hydra/overrides.yaml`
(a YAML list of overrides), `metrics.json`, `status.json` and `history.jsonl`.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.conftest import fill
from vaelab.compare import main, read_run


def write_run(run: Path, overrides, metrics=None, status=None, history=None) -> Path:
    """A run directory; a str is written as the file's raw text (to break it), anything else as JSON/YAML."""
    (run / ".hydra").mkdir(parents=True)
    if isinstance(overrides, str):
        (run / ".hydra" / "overrides.yaml").write_text(overrides)
    else:
        (run / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides) or "[]\n")
    for name, content in (("metrics.json", metrics), ("status.json", status)):
        if content is not None:
            (run / name).write_text(content if isinstance(content, str) else json.dumps(content))
    if history is not None:
        text = history if isinstance(history, str) else "".join(json.dumps(row) + "\n" for row in history)
        (run / "history.jsonl").write_text(text)
    return run


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
    assert main([str(sweep)]) == 0
    out = sweep / "comparison"
    table = (out / "comparison.md").read_text()
    lines = table.splitlines()
    body = [line for line in lines if line.startswith(f"| {sweep}")]
    # Best test/nll first; the broken run last, whatever its metrics.
    assert [line.split(" | ")[0][2:] for line in body] == [str(sweep / n) for n in ("2", "0", "1")]
    assert [line.split(" | ")[1] for line in body] == ["finished", "finished", "broken"]
    assert f"- {sweep / '1'}: status.json: empty" in lines
    assert (
        f"- {sweep / '2'}: history.jsonl line 3: not JSON (Expecting property name enclosed in double quotes: column 26), "
        "the last line, cut short; kept the 2 rows before it"
    ) in lines
    assert table == capsys.readouterr().out.rstrip("\n") + "\n"

    with (out / "comparison.csv").open() as f:
        header, *csv_rows = list(csv.reader(f))
    assert header == ["run", "state", "objective.beta", "test/nll", "test/elbo", "note"]
    assert [r[:4] for r in csv_rows] == [
        [str(sweep / "2"), "finished", "2.0", "90.2500"],
        [str(sweep / "0"), "finished", "0.5", "95.5000"],
        [str(sweep / "1"), "broken", "1.0", "80.0000"],
    ]
    assert csv_rows[2][-1] == "status.json: empty" and csv_rows[1][-1] == ""
    assert (out / "test_nll_vs_objective.beta.png").stat().st_size > 1000
    assert (out / "val_curves.png").stat().st_size > 1000


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


def test_unknown_metric_is_one_line_and_writes_nothing(sweep, capsys):
    assert main([str(sweep), "--metric", "test/nope"]) == 1
    err = capsys.readouterr().err
    assert err == ("error: --metric test/nope: no run has it; metrics found: test/elbo, test/nll, val/loss, val/nll\n")
    assert not (sweep / "comparison").exists()
    # A metric only the histories have is accepted.
    assert main([str(sweep), "--metric", "val/nll", "--out", str(sweep / "by_val")]) == 0


def test_a_missing_folder_is_one_line(tmp_path, capsys):
    assert main([str(tmp_path / "nowhere")]) == 1
    assert capsys.readouterr().err == f"error: {tmp_path / 'nowhere'}: no such directory\n"
    (tmp_path / "file").write_text("x")
    assert main([str(tmp_path / "file")]) == 1
    assert capsys.readouterr().err.count("\n") == 1
    assert main([str(tmp_path)]) == 1
    assert capsys.readouterr().err == f"error: no run directories (with .hydra/overrides.yaml) below {tmp_path}\n"


def test_a_full_disk_is_one_line(sweep, capsys, tmpfs):
    out = tmpfs(64 * 1024)
    fill(out)  # a real full disk: the tables cannot be written
    assert main([str(sweep), "--out", str(out / "comparison")]) == 1
    assert capsys.readouterr().err.startswith("error: no space left on device while writing")
