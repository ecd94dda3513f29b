"""How long the importance-weighted NLL takes, against a training epoch, in one run.

    python -m benchmarks.iw_nll [--num-samples 1000] [--images 10000]

The default model (conf/, `python train.py` defaults) on the real Fashion-MNIST test
split. Reports: seconds for K importance samples over the test images, the same as a
multiple of one training epoch (vaelab's training path over 55k images, measured here), the
decoder's share of the machine's measured float32 matmul throughput, and the cost at
several K and image counts to show that it grows linearly in both.
"""

from __future__ import annotations

import argparse
import math
import shutil
import tempfile
from pathlib import Path

import lightning as L
import torch
from hydra.utils import instantiate

from benchmarks.common import default_config, machine, matmul_gflops, timed, vaelab_epoch, write


def decoder_flops_per_row(model) -> int:
    """Multiply-adds x 2 of the decoder's linear/conv layers for one latent vector."""
    flops = 0

    def count(module, inputs, output):
        nonlocal flops
        if isinstance(module, torch.nn.Linear):
            flops += 2 * module.in_features * module.out_features
        elif isinstance(module, torch.nn.modules.conv._ConvNd):
            k = math.prod(module.kernel_size) * module.in_channels // module.groups
            flops += 2 * k * output[0].numel()

    hooks = [m.register_forward_hook(count) for m in model.decoder.modules()]
    with torch.no_grad():
        model.decoder(torch.zeros(1, model.latent_dim))
    for h in hooks:
        h.remove()
    return flops


def iw_seconds(model, x: torch.Tensor, k: int, batch: int) -> float:
    def run():
        with torch.no_grad():
            for i in range(0, len(x), batch):
                model.log_marginal(x[i : i + batch], k)

    return timed(run, repeats=1)["median_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-samples", type=int, default=1000)
    parser.add_argument("--images", type=int, default=10000)
    args = parser.parse_args()

    cfg = default_config()
    L.seed_everything(0, verbose=False)
    datamodule = instantiate(cfg.data)
    datamodule.setup("test")
    x = datamodule.splits["test"][0][: args.images]
    model = instantiate(cfg.model).model.eval()
    batch = cfg.data.eval_batch_size

    gflops = matmul_gflops()
    scratch = Path(tempfile.mkdtemp(prefix="vaelab-bench-"))
    epoch = vaelab_epoch("mlp", None, scratch)["seconds"]
    shutil.rmtree(scratch, ignore_errors=True)
    seconds = iw_seconds(model, x, args.num_samples, batch)
    rows = args.num_samples * len(x)
    achieved = rows * decoder_flops_per_row(model) / seconds / 1e9
    few = x[:2000]
    scaling_k = {k: iw_seconds(model, few, k, batch) for k in (25, 50, 100, 200)}
    scaling_n = {n: iw_seconds(model, x[:n], 100, batch) for n in (len(x) // 4, len(x) // 2, len(x))}
    result = {
        "machine": machine(),
        "matmul_gflops": gflops,
        "train_epoch_s": epoch,
        "iw_nll": {
            "num_samples": args.num_samples,
            "images": len(x),
            "seconds": seconds,
            "training_epochs": seconds / epoch,
            "decoder_gflops": achieved,
            "share_of_matmul": achieved / gflops,
            "rows_per_s": rows / seconds,
        },
        f"seconds_vs_num_samples ({len(few)} images)": scaling_k,
        "seconds_vs_images (K=100)": scaling_n,
    }
    path = write("iw_nll", result)
    print(
        f"IW-NLL, K={args.num_samples}, {len(x)} images: {seconds:.1f} s "
        f"= {seconds / epoch:.1f} training epochs ({epoch:.1f} s each)"
    )
    print(f"decoder throughput {achieved:.0f} GFLOP/s = {achieved / gflops:.0%} of matmul ({gflops:.0f} GFLOP/s)")
    print(f"seconds vs K ({len(few)} images):", {k: round(v, 2) for k, v in scaling_k.items()})
    print("seconds vs images (K=100):", {n: round(v, 2) for n, v in scaling_n.items()})
    print(f"written: {path}")


if __name__ == "__main__":
    main()
