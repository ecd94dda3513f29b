"""vaelab-sample: new data from a trained model, from its checkpoint alone.

    vaelab-sample ckpt_path=PATH [n=64] [seed=0] [interpolate=false] [pairs=8] [steps=10]
                  [output_dir=DIR] [data.data_dir=... any.config.key=value]

Draws z ~ N(0, I), decodes it to the likelihood's mean and writes samples.png (a grid) and
samples.npy (n, *data_shape). With interpolate=true it instead encodes pairs of test
images and writes the linear and spherical paths between them (PNG grids and .npy).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from vaelab import cli, pictures
from vaelab.checkpoint import load_model
from vaelab.config import targets
from vaelab.io import make_dir

OPTIONS = {"ckpt_path": "???", "n": 64, "seed": 0, "interpolate": False, "pairs": 8, "steps": 10, "output_dir": None}


def sample(
    ckpt_path: str,
    n: int = 64,
    seed: int = 0,
    interpolate: bool = False,
    pairs: int = 8,
    steps: int = 10,
    output_dir: str | None = None,
    overrides: list[str] | tuple[str, ...] = (),
) -> list[Path]:
    for name, value in (("n", n), ("pairs", pairs), ("steps", steps)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
    system, cfg, _ = load_model(ckpt_path, list(overrides))
    model = system.model
    out = Path(output_dir or Path(ckpt_path).resolve().parent.parent / "samples" / time.strftime("%Y-%m-%d_%H-%M-%S"))
    make_dir(out, "output_dir")
    torch.manual_seed(seed)
    written: list[Path] = []
    with torch.no_grad():
        if not interpolate:
            x = model.sample(n)  # z ~ the model's prior, decoded to the likelihood's mean
            np.save(out / "samples.npy", x.numpy().astype(np.float32))
            written.append(out / "samples.npy")
            if model.is_image:
                written += pictures.save({"samples": pictures.sample_grid(x)}, out)
        else:
            datamodule = targets.instantiate(cfg.data, path="data")
            datamodule.setup("test")
            x_test = datamodule.splits["test"][0]
            idx = torch.randperm(len(x_test))[: 2 * pairs]
            if len(idx) < 2 * pairs:
                raise ValueError(f"pairs={pairs} needs {2 * pairs} test examples, the test split has {len(x_test)}")
            x_a, x_b = x_test[idx[:pairs]], x_test[idx[pairs:]]
            for mode in ("linear", "spherical"):
                path = model.interpolate(x_a, x_b, steps=steps, mode=mode)
                np.save(out / f"interpolations_{mode}.npy", path.numpy().astype(np.float32))
                written.append(out / f"interpolations_{mode}.npy")
                if model.is_image:
                    grid = pictures.interpolation_grid(x_a, path, x_b)
                    written += pictures.save({f"interpolations_{mode}": grid}, out)
    for path in written:
        print(path)
    return written


def main(argv: list[str] | None = None) -> int:
    return cli.command(sample, OPTIONS, __doc__, argv)


if __name__ == "__main__":
    raise SystemExit(main())
