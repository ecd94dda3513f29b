"""vaelab's cost per training step beyond the hand loop, and where it goes, in one run.

    python -m benchmarks.overhead [--repeats 3] [--case small|mlp|conv] [--no-parts]

A small model exposes the framework's per-step cost, as a GPU does for any model (there the
model's own step takes a fraction of a millisecond): `small` is an MLP 784-64-8 at batch 128,
whose hand-written step takes about 3 ms here. vaelab's side is `python train.py` with the case's
overrides and everything else at its defaults (benchmarks.training.vaelab_run: its own process,
the Throughput callback timing the second epoch's training steps). The reference is the same
model's hand loop (benchmarks/hand_loops.py: written-out loss, fused Adam, no host syncs).

The breakdown switches one part off at a time (leave one out): a part's cost is the default
command's time per step minus the time per step without it. "Lightning's loop" is the bare
command (no callbacks, no logger, no progress bar, no finiteness check) minus the hand loop.
Parts interact a little, so the parts and the loop need not add up to the total exactly; the
residual is reported. Everything is measured interleaved, `--repeats` times; medians are shown.
Writes benchmarks/results/overhead_<case>.json.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

import torch

from benchmarks.common import default_config, machine, write
from benchmarks.training import hand_epoch, hand_loop, spread, vaelab_run
from vaelab.config import targets

CASES: dict[str, list[str]] = {
    "small": ["model.encoder.hidden=[64]", "model.latent_dim=8", "data.batch_size=128"],
    "mlp": [],
    "conv": ["model=conv"],
}

NO_PROGRESS_BAR = ["callbacks.rich_progress_bar=null", "trainer.enable_progress_bar=false"]
# name: overrides that switch the part off (leave one out)
PARTS: dict[str, list[str]] = {
    "progress bar": NO_PROGRESS_BAR,
    "step checkpoint (every 200 steps)": ["callbacks.step_checkpoint=null"],
    "best/last checkpoint": ["callbacks.model_checkpoint=null"],
    "image grids": ["callbacks.images=null"],
    "metrics history": ["callbacks.history=null"],
    "disentanglement callback": ["callbacks.disentanglement=null"],
    "W&B logger and train/ logging": ["logger=none"],
    "finiteness check": ["model.check_finite=false"],
}
BARE = ["callbacks=none", "logger=none", "trainer.enable_progress_bar=false", "model.check_finite=false"]


def step_us(images_per_s: float, batch: int) -> float:
    return 1e6 * batch / images_per_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="interleaved measurements of each variant")
    parser.add_argument("--case", choices=sorted(CASES), default="small")
    parser.add_argument("--no-parts", action="store_true", help="only the default command and bare Lightning")
    args = parser.parse_args()
    overrides = CASES[args.case]
    cfg = default_config(*overrides)
    batch = int(cfg.data.batch_size)
    datamodule = targets.instantiate(cfg.data, path="data")
    datamodule.setup("fit")
    x_train = datamodule.splits["train"][0]
    parts = {} if args.no_parts else PARTS
    variants = {"default": [], **parts, "bare Lightning": BARE}
    times: dict[str, list[float]] = {name: [] for name in ["hand loop", *variants]}
    val_seconds: dict[str, list[float]] = {name: [] for name in variants}
    scratch = Path(tempfile.mkdtemp(prefix="vaelab-overhead-"))
    try:
        for _ in range(args.repeats):
            for name, switched_off in variants.items():
                run = vaelab_run([*overrides, *switched_off], None, scratch, "cpu")
                times[name].append(step_us(run["images_per_s"], batch))
                val_seconds[name].append(run["val_seconds"])
                torch.manual_seed(0)
                system = targets.instantiate(cfg.model, path="model")
                hand = hand_epoch(hand_loop("mlp", system, cfg, len(x_train)), x_train, batch, None)
                times["hand loop"].append(step_us(hand, batch))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    med = {name: statistics.median(values) for name, values in times.items()}
    cost = {
        "Lightning's loop": med["bare Lightning"] - med["hand loop"],
        **{part: med["default"] - med[part] for part in parts},
    }
    total = med["default"] - med["hand loop"]
    result = {
        "machine": machine(),
        "case": args.case,
        "overrides": overrides,
        "batch_size": batch,
        "step_us": {name: spread(values) for name, values in times.items()},
        "val_seconds": {name: spread(values) for name, values in val_seconds.items()},
        "vaelab_over_hand": med["hand loop"] / med["default"],
        "bare_over_hand": med["hand loop"] / med["bare Lightning"],
        "cost_us_per_step": {**cost, "residual (interactions, noise)": total - sum(cost.values()), "total": total},
    }
    print(
        f"{args.case}: hand loop {med['hand loop']:.0f} us/step, vaelab {med['default']:.0f} us/step, "
        f"vaelab/hand {result['vaelab_over_hand']:.2f} (bare Lightning {result['bare_over_hand']:.2f})"
    )
    for part, us in result["cost_us_per_step"].items():
        print(f"  {part:40s} {us:8.0f} us/step")
    print(f"written: {write(f'overhead_{args.case}', result)}")


if __name__ == "__main__":
    main()
