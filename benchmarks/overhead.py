"""vaelab's cost per training step beyond the hand loop, and where it goes, in one run.

    python -m benchmarks.overhead [--case small|mlp|conv] [--repeats 3] [--also "OVERRIDES" ...]

A small model exposes the framework's per-step cost, as a GPU does for any model (there the
model's own step takes a fraction of a millisecond): `small` is an MLP 784-64-8 at batch 128.
vaelab's side is `python train.py` with the case's overrides and everything else at its defaults
(benchmarks.training.vaelab_run: its own process; the Throughput callback times the second
epoch's training steps, validation apart). The reference is the same model's hand loop
(benchmarks/hand_loops.py: written-out loss, fused Adam, no host syncs). Three measurements:

1. Ratios, interleaved `--repeats` times: the hand loop, the default command, and the bare
   command (no callbacks, no logger, no progress bar, no finiteness check); each `--also` is
   one more side, the default command with those overrides (e.g. "trainer.steps_per_execution=8
   trainer.compile=true").
2. vaelab's model, objective and data against the hand loop's, in this process, interleaved: the
   same weights and batches through `objective(vae, x)` (torch.distributions objects) + fused Adam,
   and through the hand-written loss; vaelab's batch loader against the hand loop's indexing.
3. The default command once more under Lightning's SimpleProfiler (`trainer.profiler`, the
   public API): each callback's per-step hooks and the checkpoint writes, per step.

The breakdown: "model and objective" and "data" from (2); "Lightning's loop" is bare minus hand
minus those; each callback from (3); "logging, W&B, finiteness check, rest" is what remains of
the default command's cost. Each side's CPU time a step (the process's, all threads) is recorded
beside its wall time, with the ratios in CPU time: on a machine other processes share, wall
time also counts the waits for a core. Writes benchmarks/results/overhead_<case>.json.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch

from benchmarks import hand_loops
from benchmarks.common import default_config, machine, write
from benchmarks.training import hand_epoch_times, hand_loop, spread, vaelab_run
from vaelab.config import targets

CASES: dict[str, list[str]] = {
    "small": ["model.encoder.hidden=[64]", "model.latent_dim=8", "data.batch_size=128"],
    "mlp": [],
    "conv": ["model=conv"],
}
BARE = ["callbacks=none", "logger=none", "trainer.enable_progress_bar=false", "model.check_finite=false"]
PER_STEP_HOOKS = (
    "on_train_batch_start",
    "on_train_batch_end",
    "on_before_backward",
    "on_after_backward",
    "on_before_optimizer_step",
    "on_before_zero_grad",
)
ROW = re.compile(r"^\|\s+(.+?)\s+\|\s+(\S+)\s+\|\s+(\d+)\s+\|\s+([\d.e+-]+)\s+\|")


def step_us(images_per_s: float, batch: int) -> float:
    return 1e6 * batch / images_per_s


def profiled_parts(overrides: list[str], scratch: Path, steps_per_epoch: int) -> dict[str, float]:
    """µs per training step of each callback's per-step hooks, and of checkpoint writes, from
    Lightning's SimpleProfiler report of the default command (two epochs)."""
    where = scratch / "profile"
    profiler = [
        "+trainer.profiler._target_=lightning.pytorch.profilers.SimpleProfiler",
        f"+trainer.profiler.dirpath={where}",
        "+trainer.profiler.filename=report",
    ]
    vaelab_run([*overrides, *profiler], None, scratch, "cpu")
    steps = 2 * steps_per_epoch
    parts: dict[str, float] = {}
    for line in (where / "fit-report.txt").read_text().splitlines():
        row = ROW.match(line)
        if not row:
            continue
        action, total = row[1], float(row[4])
        if action == "save_checkpoint":
            parts["checkpoint writes (amortised)"] = 1e6 * total / steps
        if not action.startswith("[Callback]") or action.rsplit(".", 1)[1] not in PER_STEP_HOOKS:
            continue
        name = action[len("[Callback]") :].rsplit(".", 1)[0]
        every = re.search(r"'every_n_train_steps': (\d+)", name)
        if every:
            name = f"ModelCheckpoint (every {every[1]} steps)" if int(every[1]) else "ModelCheckpoint (best/last)"
        parts[f"callback {name}"] = parts.get(f"callback {name}", 0.0) + 1e6 * total / steps
    return parts


def model_and_data(cfg, x: torch.Tensor, loader, repeats: int, n: int = 200) -> dict[str, float]:
    """µs per step, in this process, interleaved: vaelab's objective + fused Adam against the hand
    loop's loss + fused Adam on the same batches, and vaelab's loader against plain indexing."""
    torch.manual_seed(0)
    system = targets.instantiate(cfg.model, path="model")
    vae, objective = system.vae, system.objective
    loop = hand_loops.ElboLoop(vae.encoder, vae.decoder, float(cfg.optimizer.lr))
    optimizer = torch.optim.Adam(vae.parameters(), lr=float(cfg.optimizer.lr), fused=True)
    batch = int(cfg.data.batch_size)
    perm = torch.randperm(len(x))
    binary = [hand_loops.binarize(x[perm[i * batch : (i + 1) * batch]]) for i in range(n)]

    def hand_update():
        for xb in binary:
            loss = loop.loss(xb)
            loop.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            loop.optimizer.step()

    def vaelab_update():
        for xb in binary:
            loss = objective(vae, xb, 1.0).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    def hand_data():
        for i in range(n):
            hand_loops.binarize(x[perm[i * batch : (i + 1) * batch]])

    def vaelab_data():
        batches = iter(loader)
        for _ in range(n):
            next(batches)

    times: dict[str, list[float]] = {}
    for _ in range(repeats):
        for fn in (hand_update, vaelab_update, hand_data, vaelab_data):
            start = time.perf_counter()
            fn()
            times.setdefault(fn.__name__, []).append(1e6 * (time.perf_counter() - start) / n)
    med = {name: statistics.median(values) for name, values in times.items()}
    return {
        "model and objective (torch.distributions, the KL, ...)": med["vaelab_update"] - med["hand_update"],
        "data (vaelab's loader against indexing)": med["vaelab_data"] - med["hand_data"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="interleaved measurements of each side")
    parser.add_argument("--case", choices=sorted(CASES), default="small")
    parser.add_argument(
        "--also", action="append", default=[], help="another side: the default command with these overrides"
    )
    args = parser.parse_args()
    overrides = CASES[args.case]
    cfg = default_config(*overrides)
    batch = int(cfg.data.batch_size)
    datamodule = targets.instantiate(cfg.data, path="data")
    datamodule.setup("fit")
    x_train = datamodule.splits["train"][0]
    variants = {"default": [], "bare Lightning": BARE, **{also: also.split() for also in args.also}}
    times: dict[str, list[float]] = {name: [] for name in ["hand loop", *variants]}
    cpu: dict[str, list[float]] = {name: [] for name in times}  # CPU µs a step, all threads
    scratch = Path(tempfile.mkdtemp(prefix="vaelab-overhead-"))
    try:
        for _ in range(args.repeats):
            for name, extra in variants.items():
                run = vaelab_run([*overrides, *extra], None, scratch, "cpu")
                times[name].append(step_us(run["images_per_s"], batch))
                cpu[name].append(1e6 * run["cpu_seconds_per_image"] * batch)
            torch.manual_seed(0)
            system = targets.instantiate(cfg.model, path="model")
            hand = hand_epoch_times(hand_loop(args.case, system, cfg, len(x_train)), x_train, batch, None)
            times["hand loop"].append(step_us(hand["images_per_s"], batch))
            cpu["hand loop"].append(1e6 * hand["cpu_seconds_per_image"] * batch)
        inner = model_and_data(cfg, x_train, datamodule.train_dataloader(), args.repeats)
        callbacks = profiled_parts(overrides, scratch, len(datamodule.train_dataloader()))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    med = {name: statistics.median(values) for name, values in times.items()}
    med_cpu = {name: statistics.median(values) for name, values in cpu.items()}
    total = med["default"] - med["hand loop"]
    loop = med["bare Lightning"] - med["hand loop"] - sum(inner.values())
    cost = {**inner, "Lightning's loop": loop, **callbacks}
    cost["logging, W&B, finiteness check, rest"] = total - sum(cost.values())
    result = {
        "machine": machine(),
        "case": args.case,
        "overrides": overrides,
        "batch_size": batch,
        "step_us": {name: spread(values) for name, values in times.items()},
        "vaelab_over_hand": med["hand loop"] / med["default"],
        "bare_over_hand": med["hand loop"] / med["bare Lightning"],
        "also_over_hand": {also: med["hand loop"] / med[also] for also in args.also},
        # The same runs' CPU time a step (the process's, all threads): steadier than wall time
        # on a shared machine, which counts the waits for a core other processes hold.
        "cpu_step_us": {name: spread(values) for name, values in cpu.items()},
        "vaelab_over_hand_cpu": med_cpu["hand loop"] / med_cpu["default"],
        "bare_over_hand_cpu": med_cpu["hand loop"] / med_cpu["bare Lightning"],
        "cost_us_per_step": {**cost, "total": total},
    }
    print(
        f"{args.case}: hand loop {med['hand loop']:.0f} us/step, vaelab {med['default']:.0f} us/step, "
        f"vaelab/hand {result['vaelab_over_hand']:.2f} (bare Lightning {result['bare_over_hand']:.2f}); "
        f"in CPU time {result['vaelab_over_hand_cpu']:.2f} (bare {result['bare_over_hand_cpu']:.2f})"
    )
    for also, ratio in result["also_over_hand"].items():
        print(f"  {also}: {med[also]:.0f} us/step, vaelab/hand {ratio:.2f}")
    for part, us in result["cost_us_per_step"].items():
        print(f"  {part:60s} {us:8.0f} us/step")
    print(f"written: {write(f'overhead_{args.case}', result)}")


if __name__ == "__main__":
    main()
