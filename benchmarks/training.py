"""Training speed of `python train.py` against the fastest hand-written loop, in one run.

    python -m benchmarks.training [--repeats 3] [--cases mlp,conv,beta_tcvae,factor_vae,iwae] [--trainer cpu|gpu]
    (also --cases mlp_compile,mlp_bf16,mlp_steps8: the default MLP with trainer.compile=true,
    trainer.precision=bf16-mixed, trainer.steps_per_execution=8)

vaelab's side is the command users run, with its defaults: `python train.py` in its own process,
every default callback on (checkpoints incl. the step checkpoint, progress bar, image grids,
history), the W&B logger offline, validation each epoch. The Throughput callback times the
second epoch (the first is the warm-up) from its first step to its last, validation excluded;
the validation that follows (ELBO, active units on 5k images, with the pictures and checkpoints
written at its end) is timed on its own.

The reference (benchmarks/hand_loops.py) is the fastest correct loop we could write for the
same model, objective and data: written-out losses, 1[u < p] binarisation, fused Adam, no host
syncs, data one in-memory tensor. Before timing, each hand loop's loss is checked against
vaelab's objective on the same batch and noise.

`--trainer gpu` runs both sides on the GPU (vaelab with `trainer=gpu`); without a GPU it says so
and exits. Also: seconds from the command to the first training step, and the peak resident memory of the
default run. Every claim is a ratio of measurements taken side by side: the machine's speed
drifts over minutes, so vaelab and the hand loop alternate, `--repeats` times each.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks import hand_loops
from benchmarks.common import default_config, machine, run_train_py, write
from vaelab.config import targets
from vaelab.runs import nvml

# name: (train.py overrides, batches per epoch (None = all 430))
CASES: dict[str, tuple[list[str], int | None]] = {
    "mlp": ([], None),
    "conv": (["model=conv"], None),
    "beta_tcvae": (["objective=beta_tcvae"], None),
    "factor_vae": (["objective=factor_vae"], None),
    "iwae": (["objective=iwae", "objective.num_samples=5"], None),
    # The default MLP compiled, and in bf16 (the hand loop stays eager float32): benchmarks/gpu.sh runs them.
    "mlp_compile": (["trainer.compile=true"], None),
    "mlp_bf16": (["trainer.precision=bf16-mixed"], None),
    # 8 optimiser steps per Lightning step (vaelab.runs.executions): Lightning's loop paid once per 8.
    "mlp_steps8": (["trainer.steps_per_execution=8"], None),
}
# What runs without --cases: each objective and model in float32, eager.
DEFAULT_CASES = ("mlp", "conv", "beta_tcvae", "factor_vae", "iwae")

# --breakdown: where vaelab's time goes beyond the hand loop, for the default MLP, each variant the
# default command with parts switched off.
VARIANTS: dict[str, list[str]] = {
    "default": [],
    "no step checkpoint": ["callbacks.step_checkpoint=null"],
    "no logger": ["logger=none"],
    "bare Lightning (no callbacks, no logger)": ["callbacks=none", "logger=none", "trainer.enable_progress_bar=false"],
}

# Runs the command and reports its peak RSS: measured from this (large) process, the child's
# ru_maxrss would include the pages it shares before exec.
PEAK_RSS = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(code)"
)


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def vaelab_run(overrides: list[str], limit: int | None, scratch: Path, trainer: str) -> dict[str, float]:
    """`python train.py` with its defaults for two epochs; the second epoch's timings."""
    out = scratch / f"run_{time.monotonic_ns()}"
    args = [
        *overrides,
        f"trainer={trainer}",
        "trainer.max_epochs=2",
        "test=false",
        f"trainer.limit_train_batches={limit or 'null'}",
        "+callbacks.throughput._target_=vaelab.callbacks.Throughput",
        f"+callbacks.throughput.path={out}/throughput.json",
        f"hydra.run.dir={out}",
        f"paths.log_dir={scratch}/logs",
    ]
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    launched = time.time()
    stderr = run_train_py(args, env=env, wrapper=(sys.executable, "-c", PEAK_RSS))
    record = json.loads((out / "throughput.json").read_text())
    epoch = record["epochs"][-1]
    shutil.rmtree(out, ignore_errors=True)
    return {
        "images_per_s": epoch["images_per_s"],
        "cpu_seconds_per_image": epoch["cpu_seconds"] / epoch["images"],
        "train_seconds": epoch["seconds"],
        "val_seconds": epoch["val_seconds"],
        "seconds_to_first_step": record["first_step_time"] - launched,
        "peak_rss_mb": int(stderr.strip().splitlines()[-1]) / 1024,
    }


def hand_loop(name: str, system, cfg, dataset_size: int) -> hand_loops.HandLoop:
    enc, dec, lr = system.vae.encoder, system.vae.decoder, float(cfg.optimizer.lr)
    obj = cfg.objective
    if name == "beta_tcvae":
        return hand_loops.BetaTCVAELoop(enc, dec, lr, dataset_size, cfg.data.batch_size, obj.alpha, obj.beta, obj.gamma)
    if name == "iwae":
        return hand_loops.IWAELoop(enc, dec, lr, obj.num_samples)
    if name == "factor_vae":
        d = system.objective.discriminator
        return hand_loops.FactorVAELoop(
            enc, dec, lr, d, obj.gamma, obj.discriminator_lr, tuple(obj.discriminator_betas)
        )
    return hand_loops.ElboLoop(enc, dec, lr)


def check_same_loss(name: str, overrides: list[str], x: torch.Tensor, dataset_size: int) -> float:
    """The hand loop's loss equals vaelab's objective on the same weights, batch and noise."""
    cfg = default_config(*overrides)
    system = targets.instantiate(cfg.model, path="model")
    system.objective.dataset_size = dataset_size
    loop = hand_loop(name, system, cfg, dataset_size)
    xb = hand_loops.binarize(x)
    with torch.no_grad():
        torch.manual_seed(0)
        ours = float(system.objective(system.vae, xb, 1.0).loss)
        torch.manual_seed(0)
        theirs = float(loop.loss(xb))
    if abs(ours - theirs) > 1e-4 * max(1.0, abs(ours)):
        raise AssertionError(f"{name}: the hand loop's loss {theirs} differs from vaelab's {ours}")
    return ours


def hand_epoch(loop: hand_loops.HandLoop, x: torch.Tensor, batch: int, limit: int | None, warmup: int = 30) -> float:
    """Images/s of one epoch of the hand loop (after `warmup` steps)."""
    return hand_epoch_times(loop, x, batch, limit, warmup)["images_per_s"]


def hand_epoch_times(
    loop: hand_loops.HandLoop, x: torch.Tensor, batch: int, limit: int | None, warmup: int = 30
) -> dict[str, float]:
    """One epoch of the hand loop (after `warmup` steps): images/s, and the process's CPU seconds
    per image (all threads), as vaelab's Throughput callback records them."""
    # The fastest correct loop: without the NVML probe per optimiser step that importing Lightning
    # (here, to build the model) turns on, as vaelab's runs do (vaelab.runs.nvml).
    nvml.skip_absent_nvml()
    n_batches = min(limit or 10**9, -(-len(x) // batch))
    perm = torch.randperm(len(x), device=x.device)
    for i in range(warmup):
        loop.step(x[perm[i * batch : (i + 1) * batch]])
    perm = torch.randperm(len(x), device=x.device)
    sync = torch.cuda.synchronize if x.is_cuda else lambda: None
    sync()
    start, start_cpu, images = time.perf_counter(), time.process_time(), 0
    for i in range(n_batches):
        xb = x[perm[i * batch : (i + 1) * batch]]
        loop.step(xb)
        images += len(xb)
    sync()
    seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    return {"images_per_s": images / seconds, "cpu_seconds_per_image": cpu / images}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="interleaved measurements of each side")
    parser.add_argument("--cases", default=",".join(DEFAULT_CASES), help=f"comma-separated, from {', '.join(CASES)}")
    parser.add_argument("--trainer", choices=("cpu", "gpu"), default="cpu", help="where both sides train")
    parser.add_argument("--breakdown", action="store_true", help="the default MLP with parts switched off")
    args = parser.parse_args()
    if args.trainer == "gpu" and not torch.cuda.is_available():
        print("--trainer gpu: skipped, no GPU on this machine (torch.cuda.is_available() is False)")
        return
    device = torch.device("cuda" if args.trainer == "gpu" else "cpu")
    cases = args.cases.split(",")
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        parser.error(f"--cases: unknown {', '.join(unknown)}; choose from {', '.join(CASES)}")
    scratch = Path(tempfile.mkdtemp(prefix="vaelab-bench-"))
    result: dict = {"machine": machine(), "trainer": args.trainer}
    try:
        cfg = default_config()
        datamodule = targets.instantiate(cfg.data, path="data")
        datamodule.setup("fit")
        x_train = datamodule.splits["train"][0].to(device)  # grey levels; both sides binarise every batch
        batch = int(cfg.data.batch_size)
        result["batch_size"] = batch
        if args.breakdown:
            result["breakdown"] = breakdown(x_train, batch, args.repeats, scratch, args.trainer, device)
        for name in cases if not args.breakdown else []:
            overrides, limit = CASES[name]
            loss = check_same_loss(name, overrides, x_train[:batch].cpu(), len(x_train))
            case_cfg = default_config(*overrides)
            runs, hand = [], []
            for _ in range(args.repeats):
                runs.append(vaelab_run(overrides, limit, scratch, args.trainer))
                torch.manual_seed(0)
                system = targets.instantiate(case_cfg.model, path="model").to(device)
                loop = hand_loop(name, system, case_cfg, len(x_train))
                hand.append(hand_epoch(loop, x_train, batch, limit))
            ours = [r["images_per_s"] for r in runs]
            result[name] = {
                "overrides": overrides,
                "same_loss_checked": loss,
                "images_per_s": {"vaelab": spread(ours), "hand": spread(hand)},
                "vaelab_over_hand": spread([v / h for v, h in zip(ours, hand)]),
                "val_over_train_epoch": spread([r["val_seconds"] / r["train_seconds"] for r in runs]),
                "seconds_to_first_step": spread([r["seconds_to_first_step"] for r in runs]),
                "peak_rss_mb": spread([r["peak_rss_mb"] for r in runs]),
            }
            report(name, result[name])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    name = "training" + ("_gpu" if args.trainer == "gpu" else "") + ("_breakdown" if args.breakdown else "")
    print(f"written: {write(name, result)}")


def breakdown(x_train, batch: int, repeats: int, scratch: Path, trainer: str, device) -> dict:
    """vaelab/hand of the default MLP for each of VARIANTS, interleaved with the hand loop."""
    cfg = default_config()
    ratios: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(repeats):
        for name, overrides in VARIANTS.items():
            ours = vaelab_run(overrides, None, scratch, trainer)["images_per_s"]
            torch.manual_seed(0)
            system = targets.instantiate(cfg.model, path="model").to(device)
            ratios[name].append(ours / hand_epoch(hand_loop("mlp", system, cfg, len(x_train)), x_train, batch, None))
    result = {name: spread(values) for name, values in ratios.items()}
    for name, r in result.items():
        print(f"breakdown, {name}: vaelab/hand {r['median']:.2f} ({r['min']:.2f}-{r['max']:.2f})", flush=True)
    return result


def report(name: str, r: dict) -> None:
    v, h = r["images_per_s"]["vaelab"], r["images_per_s"]["hand"]
    ratio, val = r["vaelab_over_hand"], r["val_over_train_epoch"]
    first, rss = r["seconds_to_first_step"], r["peak_rss_mb"]
    print(
        f"{name}: vaelab/hand {ratio['median']:.2f} ({ratio['min']:.2f}-{ratio['max']:.2f}); "
        f"images/s {v['median']:,.0f} vs {h['median']:,.0f}; validation {100 * val['median']:.0f}% of a "
        f"training epoch; first step after {first['median']:.1f} s; peak RSS {rss['median']:.0f} MB",
        flush=True,
    )


if __name__ == "__main__":
    main()
