"""docs/extending.md, run for real: every code block of the page, in order, in an empty folder.

A block preceded by `<!-- file: PATH -->` is written to PATH; one preceded by `<!-- runnable -->`
is run (bash with `bash -e`, Python as a script in that folder, in this process), as a user would type it, with
three changes that keep the test small and the project's virtualenv as it is:
- tiny training settings (tests.conftest.TINY) are appended to each `vaelab-train` command;
- `pip install <path>` installs a copy of <path> with `--no-deps --no-build-isolation --target`
  into a folder of the test's, which is on PYTHONPATH from then on;
- `$VAELAB` is the checkout, and `python`, `vaelab-train`, `vaelab-eval` are the virtualenv's,
  the console scripts started from the warm test interpreter (tests/helpers/warm.py).
Then the outcomes: each documented checkpoint was trained and scored with finite numbers.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, TINY
from tests.helpers import warm
from tests.helpers.scripts import run_script

PAGE = ROOT / "docs" / "extending.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)
MARK = re.compile(r"<!-- (runnable|file: (\S+)) -->\s*$")


def blocks(text: str) -> list[tuple[str, str | None, str, str]]:
    """(kind "runnable"/"file", path, language, code) of every fenced block, with its marker."""
    found = []
    for match in BLOCK.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        mark = MARK.fullmatch(before)
        assert mark, f"a code block of {PAGE.name} has no <!-- runnable --> or <!-- file: ... --> mark:\n{match[0]}"
        kind = "runnable" if mark[1] == "runnable" else "file"
        found.append((kind, mark[2], match[1], match[2]))
    return found


def test_the_page_marks_every_block():
    found = blocks(PAGE.read_text())
    assert [k for k, *_ in found].count("runnable") >= 4 and [k for k, *_ in found].count("file") >= 3


def adapted(code: str, site: Path, copies: Path) -> str:
    """The bash block with the test's three changes (see the module docstring)."""
    lines = []
    for line in code.splitlines():
        if "vaelab-train" in line and "--help" not in line and not line.rstrip().endswith("\\"):
            line = f"{line} {' '.join(TINY)}"
        install = re.fullmatch(r"pip install (\S+)", line.strip())
        if install:
            source = install[1].replace("$VAELAB", str(ROOT))
            copy = copies / Path(source).name  # pip builds in its source folder: build a copy
            shutil.copytree(source, copy, ignore=shutil.ignore_patterns("build", "*.egg-info"))
            line = f"python -m pip install -q --no-deps --no-build-isolation --target {site} {copy}"
        lines.append(line)
    return "\n".join(lines)


def finite_metrics(pattern: str, where: Path) -> dict:
    (path,) = where.glob(pattern)
    metrics = json.loads(path.read_text())
    assert all(math.isfinite(metrics[k]) for k in ("test/nll", "test/elbo", "test/bpd")), metrics
    return metrics


@pytest.mark.slow
def test_every_block_of_the_page_runs(tmp_path, monkeypatch):
    work, site, copies = tmp_path / "project", tmp_path / "site", tmp_path / "copies"
    work.mkdir()
    copies.mkdir()
    env = {**os.environ, "VAELAB": str(ROOT), "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    warm.shims(tmp_path / "bin", env)
    env.pop("PYTHONPATH", None)
    env.pop("HYDRA_FULL_ERROR", None)
    for i, (kind, path, language, code) in enumerate(blocks(PAGE.read_text())):
        if kind == "file":
            (work / path).parent.mkdir(parents=True, exist_ok=True)
            (work / path).write_text(code)
            continue
        if language == "bash":
            script = adapted(code, site, copies)
            if "--target" in script:
                env["PYTHONPATH"] = str(site)  # the plugin is installed from here on
            cmd = ["bash", "-e", "-c", script]
        else:
            assert language == "python", language
            (work / f"snippet_{i}.py").write_text(code)
            run_script(work / f"snippet_{i}.py", monkeypatch)
            continue
        done = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"block {i}:\n{code}\n{done.stderr[-3000:]}"

    # (a) trained with the user's encoder and scored under trust=[mylab]; (b) the plugin's run,
    # scored with the plugin's own trust; (c) the checkpoint saved from Python, scored.
    finite_metrics("logs/normed/runs/*/eval/*/metrics.json", work)
    (config,) = work.glob("logs/normed/runs/*/config.yaml")
    config = yaml.safe_load(config.read_text())
    assert config["model"]["encoder"]["_target_"] == "mylab.encoders.NormEncoder"
    finite_metrics("logs/mmd/runs/*/eval/*/metrics.json", work)
    assert (site / "vaelab_resmlp" / "mmd.py").is_file()
    metrics = finite_metrics("eval/*/metrics.json", work)
    assert metrics["ckpt_path"] == str(work / "normed.ckpt") and metrics["eval.num_samples"] == 1000
