"""Training speed of vaelab against a hand-written loop and the conventional pipeline, in one run.

    python -m benchmarks.training [--repeats 3] [--conv-batches 100]

Same machine, same threads, same model (built from conf/ by Hydra), same batch size, same
job (dynamically binarised Fashion-MNIST, Bernoulli likelihood, Adam):
1. vaelab: the training path of `python train.py` (vaelab.run.train on the Hydra config:
   Lightning, its callbacks; logger and validation off), timed by the Throughput callback over
   a full epoch after a warm-up epoch;
2. hand: a minimal PyTorch loop over the same encoder and decoder modules, the data one
   in-memory tensor, batches by index, the loss written out by hand: the limit for this model;
3. conventional: the hand loop fed by torchvision's FashionMNIST Dataset with ToTensor()
   through a DataLoader, how most VAE code feeds MNIST-like data.
Also: peak resident memory of a default `python train.py` run and the time from the command
to its first training step. Every claim is a ratio measured in this one run.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra.utils import instantiate

from benchmarks.common import ROOT, default_config, machine, vaelab_epoch, write

FASHION = Path("/usr/share/datasets/fashion-mnist")


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def hand_step(encoder, decoder, optimizer, x: torch.Tensor) -> None:
    """One step of the VAE, written out: Bernoulli logits, closed-form KL, reparameterisation."""
    mu, logvar = encoder(x)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    logits = decoder(z).view_as(x)
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
    kl = 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).sum(1)
    loss = (recon + kl).mean()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def run_hand_loop(cfg, batches, batch_limit: int | None = None, warmup: int = 50) -> float:
    """Images/s of one epoch of the hand loop, after `warmup` batches; `batches()` yields an epoch."""
    torch.manual_seed(0)
    model = instantiate(cfg.model).model
    optimizer = instantiate(cfg.model.optimizer)(params=model.parameters())  # the same optimiser as vaelab
    for i, x in enumerate(batches()):
        if i == warmup:
            break
        hand_step(model.encoder, model.decoder, optimizer, torch.bernoulli(x))
    start, images = time.perf_counter(), 0
    for i, x in enumerate(batches()):
        if batch_limit is not None and i >= batch_limit:
            break
        hand_step(model.encoder, model.decoder, optimizer, torch.bernoulli(x))
        images += len(x)
    return images / (time.perf_counter() - start)


def in_memory_batches(x: torch.Tensor, batch_size: int):
    def batches():
        perm = torch.randperm(len(x))
        for i in range(0, len(x), batch_size):
            yield x[perm[i : i + batch_size]]

    return batches


def torchvision_batches(batch_size: int):
    """torchvision's FashionMNIST + ToTensor + DataLoader, from the same files (decompressed into
    torchvision's folder layout; its download checksums do not match Debian's recompressed files)."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    root = Path(tempfile.mkdtemp())
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for gz in FASHION.glob("*.gz"):
        (raw / gz.stem).write_bytes(gzip.decompress(gz.read_bytes()))
    dataset = datasets.FashionMNIST(str(root), train=True, transform=transforms.ToTensor(), download=False)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=0)

    def batches():
        for x, _ in loader:
            yield x

    return batches, root


# A small launcher process runs the command and reports its peak RSS: measured from this
# (large) process, the child's ru_maxrss would include the pages it shares before exec.
PEAK_RSS = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(code)"
)


def default_run_cost(scratch: Path) -> dict:
    """Peak RSS of a default run (2 epochs, W&B offline) and seconds from the command to its first step."""
    out = scratch / "default_run"
    args = [
        "trainer.max_epochs=2",
        "+callbacks.throughput._target_=vaelab.callbacks.Throughput",
        f"+callbacks.throughput.path={out}/throughput.json",
        f"hydra.run.dir={out}",
        f"paths.log_dir={scratch}/logs",
    ]
    env = {**os.environ, "WANDB_MODE": "offline"}
    launched = time.time()
    done = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, sys.executable, "train.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"default run failed: {done.stderr[-2000:]}")
    first_step = json.loads((out / "throughput.json").read_text())["first_step_time"]
    peak_kb = int(done.stderr.strip().splitlines()[-1])
    return {"peak_rss_mb": peak_kb / 1024, "seconds_to_first_step": first_step - launched}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="interleaved measurements of each pipeline")
    parser.add_argument("--conv-batches", type=int, default=100, help="batches per epoch for the conv model")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="vaelab-bench-"))
    result: dict = {"machine": machine(), "batch_size": None}
    try:
        cfg = default_config()
        datamodule = instantiate(cfg.data)
        datamodule.setup("fit")
        x_train = datamodule.splits["train"][0]  # grey levels; each loop binarises every batch
        batch = cfg.data.batch_size
        result["batch_size"] = batch
        tv_batches, tv_root = torchvision_batches(batch)
        for model, limit in (("mlp", None), ("conv", args.conv_batches)):
            cfg_model = default_config(f"model={model}")
            rates: dict[str, list[float]] = {"vaelab": [], "hand": [], "conventional": []}
            # Interleaved repeats: this machine's speed drifts by 10-20% over minutes, so each
            # ratio compares measurements taken side by side.
            for _ in range(args.repeats):
                rates["vaelab"].append(vaelab_epoch(model, limit, scratch)["images_per_s"])
                rates["hand"].append(run_hand_loop(cfg_model, in_memory_batches(x_train, batch), limit))
                rates["conventional"].append(run_hand_loop(cfg_model, tv_batches, limit))
            over_hand = [v / h for v, h in zip(rates["vaelab"], rates["hand"])]
            over_conventional = [v / c for v, c in zip(rates["vaelab"], rates["conventional"])]
            result[model] = {
                "images_per_s": {k: spread(v) for k, v in rates.items()},
                "vaelab_over_hand": spread(over_hand),
                "vaelab_over_conventional": spread(over_conventional),
            }
        shutil.rmtree(tv_root, ignore_errors=True)
        result["default_run"] = default_run_cost(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    path = write("training", result)
    for model in ("mlp", "conv"):
        r = result[model]
        rates = " | ".join(
            f"{k} {v['median']:,.0f} ({v['min']:,.0f}-{v['max']:,.0f})" for k, v in r["images_per_s"].items()
        )
        h, c = r["vaelab_over_hand"], r["vaelab_over_conventional"]
        print(f"{model}: images/s {rates}")
        print(
            f"  vaelab/hand {h['median']:.2f} ({h['min']:.2f}-{h['max']:.2f}), "
            f"vaelab/conventional {c['median']:.2f} ({c['min']:.2f}-{c['max']:.2f})"
        )
    d = result["default_run"]
    print(f"default run: peak RSS {d['peak_rss_mb']:.0f} MB, {d['seconds_to_first_step']:.1f} s to the first step")
    print(f"written: {path}")


if __name__ == "__main__":
    main()
