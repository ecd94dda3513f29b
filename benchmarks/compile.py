"""What `trainer.compile=true` buys on the default MLP (Fashion-MNIST, batch 128), in one run.

    python -m benchmarks.compile [--repeats 3] [--model mlp|conv]

Four sides, interleaved `--repeats` times (the machine's speed drifts over minutes):
    hand          the eager hand loop (benchmarks.hand_loops.ElboLoop): the reference
    hand_compiled the same loop with its loss through torch.compile (inductor), both batch shapes
                  of the epoch (128 and the last, 88) compiled before timing
    vaelab        `python train.py` with its defaults (benchmarks.training.vaelab_run)
    vaelab_compiled  the same with `trainer.compile=true`
Images/s are of a full epoch after warm-up (the hand loops: 30 steps; vaelab: its first epoch).
Compile seconds: the hand loop's first calls, and vaelab's `train/compile_seconds` (metrics.json)
from a one-step run, each with torch's inductor cache empty ("cold": the first run on a machine)
and again with it filled ("warm": every later run; the cache lives in /tmp/torchinductor_$USER).
The issue's target: vaelab_compiled >= 1.1 x hand. Writes benchmarks/results/compile.json
(compile_conv.json for --model conv).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch

from benchmarks import hand_loops
from benchmarks.common import default_config, machine, run_train_py, write
from benchmarks.training import hand_epoch, spread, vaelab_run
from vaelab.config import targets


def compiled_hand_loop(cfg, x: torch.Tensor, batch: int) -> tuple[hand_loops.ElboLoop, float]:
    """The hand loop with its loss compiled, and the seconds its two batch shapes took to compile."""
    torch.manual_seed(0)
    system = targets.instantiate(cfg.model, path="model")
    loop = hand_loops.ElboLoop(system.vae.encoder, system.vae.decoder, float(cfg.optimizer.lr))
    loop.loss = torch.compile(loop.loss, dynamic=False)
    start = time.perf_counter()
    for size in {batch, len(x) % batch or batch}:
        loop.step(x[:size])
    return loop, time.perf_counter() - start


def vaelab_compile_seconds(model: str, scratch: Path) -> float:
    """`train/compile_seconds` of a one-step `python train.py trainer.compile=true`."""
    out = scratch / f"compile_{time.monotonic_ns()}"
    args = [
        f"model={model}",
        "trainer.compile=true",
        "trainer.max_steps=1",
        "test=false",
        "logger=none",
        f"hydra.run.dir={out}",
    ]
    run_train_py([*args, f"paths.log_dir={scratch}/logs"])
    seconds = json.loads((out / "metrics.json").read_text())["train/compile_seconds"]
    shutil.rmtree(out, ignore_errors=True)
    return seconds


def compile_seconds(cfg, x: torch.Tensor, batch: int, scratch: Path, model: str) -> dict[str, dict[str, float]]:
    """Cold (empty inductor cache) and warm compile seconds of both compiled sides."""
    seconds: dict[str, dict[str, float]] = {"hand_compiled": {}, "vaelab_compiled": {}}
    for state in ("cold", "warm"):
        if state == "cold":  # a fresh cache for this process and its children
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(scratch / "inductor")
        torch._dynamo.reset()  # forget this process's compiled graphs: only the cache on disk stays
        seconds["hand_compiled"][state] = compiled_hand_loop(cfg, x, batch)[1]
        seconds["vaelab_compiled"][state] = vaelab_compile_seconds(model, scratch)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="interleaved measurements of each side")
    parser.add_argument("--model", choices=("mlp", "conv"), default="mlp", help="the model group")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="vaelab-bench-compile-"))
    result: dict = {"machine": machine(), "model": args.model, "load_average_before": os.getloadavg()}
    try:
        cfg = default_config(f"model={args.model}")
        datamodule = targets.instantiate(cfg.data, path="data")
        datamodule.setup("fit")
        x = datamodule.splits["train"][0]  # grey levels; every side binarises each batch
        batch = int(cfg.data.batch_size)
        result["batch_size"] = batch
        result["compile_seconds"] = compile_seconds(cfg, x, batch, scratch, args.model)
        print(f"compile seconds: {json.dumps(result['compile_seconds'])}", flush=True)
        sides: dict[str, list[float]] = {"hand": [], "hand_compiled": [], "vaelab": [], "vaelab_compiled": []}
        first_step: dict[str, list[float]] = {"vaelab": [], "vaelab_compiled": []}
        for _ in range(args.repeats):
            torch.manual_seed(0)
            system = targets.instantiate(cfg.model, path="model")
            loop = hand_loops.ElboLoop(system.vae.encoder, system.vae.decoder, float(cfg.optimizer.lr))
            sides["hand"].append(hand_epoch(loop, x, batch, None))
            sides["hand_compiled"].append(hand_epoch(compiled_hand_loop(cfg, x, batch)[0], x, batch, None))
            for side, compiled in (("vaelab", []), ("vaelab_compiled", ["trainer.compile=true"])):
                overrides = [f"model={args.model}", *compiled]
                run = vaelab_run(overrides, None, scratch, "cpu")
                sides[side].append(run["images_per_s"])
                first_step[side].append(run["seconds_to_first_step"])
            print({k: round(v[-1]) for k, v in sides.items()}, flush=True)
        result["images_per_s"] = {k: spread(v) for k, v in sides.items()}
        ratios = {
            f"{side}_over_hand": spread([s / h for s, h in zip(sides[side], sides["hand"])])
            for side in ("hand_compiled", "vaelab", "vaelab_compiled")
        }
        ratios["vaelab_compiled_over_vaelab"] = spread(
            [c / e for c, e in zip(sides["vaelab_compiled"], sides["vaelab"])]
        )
        result["ratios"] = ratios
        result["seconds_to_first_step"] = {k: spread(v) for k, v in first_step.items()}
        result["target_vaelab_compiled_over_hand_1.1_met"] = ratios["vaelab_compiled_over_hand"]["median"] >= 1.1
        result["load_average_after"] = os.getloadavg()
        result["omp_num_threads"] = os.environ.get("OMP_NUM_THREADS")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for name, r in result["ratios"].items():
        print(f"{name}: {r['median']:.2f} ({r['min']:.2f}-{r['max']:.2f})")
    print(f"written: {write('compile' if args.model == 'mlp' else f'compile_{args.model}', result)}")


if __name__ == "__main__":
    main()
