"""Shared pieces of the benchmarks: the default config, timing, the machine's matmul throughput."""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

import vaelab  # noqa: F401  (registers the config resolvers)
from vaelab.conf import CONF_DIR

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def default_config(*overrides: str):
    """The config `python train.py` runs, with the logger off and paths in a scratch directory."""
    scratch = RESULTS / "scratch"
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose(
            "train",
            overrides=[f"paths.root_dir={ROOT}", f"paths.output_dir={scratch}", "logger=none", *overrides],
        )


def run_train_py(args: list[str], env: dict[str, str] | None = None, wrapper: tuple[str, ...] = ()) -> str:
    """`python train.py args` from the checkout (under `wrapper`, a command that runs it), its
    output dropped; its stderr, or a RuntimeError that names the command and ends with it."""
    done = subprocess.run(
        [*wrapper, sys.executable, "train.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"train.py {' '.join(args)} failed: {done.stderr[-2000:]}")
    return done.stderr


def timed(fn: Callable[[], object], repeats: int = 3) -> dict[str, float]:
    """Median and min/max wall time of `repeats` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times)}


def matmul_gflops(n: int = 1024, repeats: int = 5) -> float:
    """The machine's float32 matrix-multiply throughput with torch, as GFLOP/s (best of repeats)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    best = min(timed(lambda: a @ b, repeats=1)["median_s"] for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def machine() -> dict[str, object]:
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }


def write(name: str, result: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def vaelab_epoch(model: str, batch_limit: int | None, scratch: Path) -> dict[str, float]:
    """One epoch of vaelab's training path (vaelab.runs.train.train on the composed config, as
    `python train.py` runs it, logger and validation off), after a warm-up epoch: the
    Throughput callback's record (images, seconds, images_per_s)."""
    from vaelab.runs.train import train

    out = scratch / f"vaelab_{model}"
    shutil.rmtree(out, ignore_errors=True)
    cfg = default_config(
        f"model={model}",
        "trainer.max_epochs=2",
        "trainer.limit_val_batches=0",
        "test=false",
        "++callbacks.rich_progress_bar=null",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        "+callbacks.throughput._target_=vaelab.callbacks.Throughput",
        f"+callbacks.throughput.path={out}/throughput.json",
        f"paths.output_dir={out}",
        f"trainer.limit_train_batches={batch_limit or 'null'}",
    )
    train(cfg)
    return json.loads((out / "throughput.json").read_text())["epochs"][-1]
