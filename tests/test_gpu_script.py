"""benchmarks/gpu.sh on a machine without a GPU: one line saying so, exit 0, nothing written.

Two ways to have no GPU: no driver (no working `nvidia-smi`: the script stops before importing
torch), and a driver that answers while torch sees no CUDA device (a fake `nvidia-smi` here).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

SCRIPT = ROOT / "benchmarks" / "gpu.sh"
RECORD = ROOT / "benchmarks" / "results" / "gpu.json"


@pytest.mark.skipif(sys.platform == "win32", reason="a bash script")
@pytest.mark.parametrize(
    "driver, said",
    [
        (None, "skipped, no GPU on this machine (no working nvidia-smi)"),
        ("#!/bin/sh\necho 'GPU 0: Fake'\n", "skipped, torch sees no CUDA GPU (torch.cuda.is_available() is False)"),
    ],
    ids=["no driver", "no CUDA for torch"],
)
def test_without_a_gpu_the_script_says_so_in_one_line_and_succeeds(tmp_path, driver, said):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the script would run the benchmark")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if driver is not None:
        (bin_dir / "nvidia-smi").write_text(driver)
        (bin_dir / "nvidia-smi").chmod(0o755)
    # Only this directory and the shell's own tools on PATH: a real nvidia-smi elsewhere is not seen.
    path = os.pathsep.join([str(bin_dir), "/usr/bin", "/bin"])
    before = RECORD.read_bytes() if RECORD.is_file() else None
    env = {**os.environ, "PATH": path, "PYTHON": sys.executable}
    done = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"benchmarks/gpu.sh: {said}"]
    assert (RECORD.read_bytes() if RECORD.is_file() else None) == before
