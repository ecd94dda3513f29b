"""The wheel works: built from the source tree, installed (not editable) into a fresh virtualenv,
vaelab-train runs from an empty directory, with the configs that ship inside the package."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_the_wheel_trains_from_an_empty_directory(tmp_path):
    # Built from a copy of what the wheel is made of: setuptools writes build/ beside its source.
    source, dist = tmp_path / "source", tmp_path / "dist"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(source)],
        check=True,
    )
    (wheel,) = dist.glob("vaelab-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # The dependencies (torch's local wheel among them) are reused from this environment, not
    # downloaded again; vaelab itself comes only from the wheel (this environment's is editable).
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)], check=True
    )
    env = {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)  # a source tree on it would shadow the wheel
    where = subprocess.run(
        [python, "-c", "import vaelab; print(vaelab.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env=env,
    ).stdout.strip()
    assert where.startswith(str(site)), where  # the wheel's copy, with its conf/ inside
    empty = tmp_path / "empty"
    empty.mkdir()
    done = subprocess.run(
        [
            venv / "bin" / "vaelab-train",
            "data=digits",
            "trainer.max_epochs=1",
            "logger=none",
            "~callbacks.rich_progress_bar",
            "eval.num_samples=4",
        ],
        cwd=empty,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (metrics,) = empty.glob("logs/train/runs/*/metrics.json")
    assert json.loads(metrics.read_text())["test/nll"] > 0
