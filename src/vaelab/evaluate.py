"""vaelab-eval: the numbers and pictures of a trained model, from its checkpoint alone.

    vaelab-eval ckpt_path=PATH [split=test] [num_samples=5000] [output_dir=DIR] [pictures=true]
                [accelerator=cpu] [data.data_dir=... any.config.key=value]

Runs the model's own test step over the split (ELBO and its parts, the importance-weighted
NLL with K = num_samples, bits per dimension, active units, KL per dimension), writes
metrics.json and the pictures into output_dir, and prints a table.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import RichProgressBar

from vaelab import cli
from vaelab.callbacks import ImageGrids
from vaelab.checkpoint import load_model
from vaelab.config import targets
from vaelab.config.schema import available_accelerator
from vaelab.io import make_dir

OPTIONS = {
    "ckpt_path": "???",
    "split": "test",
    # The literature's protocol for test log-likelihoods (Burda et al., 2016).
    "num_samples": 5000,
    "output_dir": None,
    "pictures": True,
    "accelerator": "cpu",
}
SPLITS = ("train", "val", "test")


def default_output_dir(ckpt_path: str | Path, split: str, num_samples: int) -> Path:
    """<run dir>/eval/<split>-K<k>-<time>: beside the run the checkpoint came from."""
    run_dir = Path(ckpt_path).resolve().parent.parent
    return run_dir / "eval" / f"{split}-K{num_samples}-{time.strftime('%Y-%m-%d_%H-%M-%S')}"


def evaluate(
    ckpt_path: str,
    split: str = "test",
    num_samples: int = 5000,
    output_dir: str | None = None,
    pictures: bool = True,
    accelerator: str = "cpu",
    overrides: list[str] | tuple[str, ...] = (),
) -> dict[str, Any]:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples must be a whole number >= 1, got {num_samples!r}")
    try:
        available_accelerator(accelerator)
    except ValueError as err:
        raise ValueError(f"accelerator={accelerator}: {err}") from None
    model, cfg, _ = load_model(ckpt_path, list(overrides))
    out = make_dir(output_dir or default_output_dir(ckpt_path, split, num_samples), "output_dir")
    model.num_iw_samples = num_samples
    L.seed_everything(cfg.seed, verbose=False)
    datamodule = targets.instantiate(cfg.data, path="data")
    # The test split alone reads only the test files (MNIST, CIFAR-10); train and val need them all.
    datamodule.setup("test" if split == "test" else "fit")

    callbacks: list[L.Callback] = [RichProgressBar()]
    if pictures:
        callbacks.append(ImageGrids(dirpath=str(out)))
    trainer = L.Trainer(
        accelerator=accelerator,
        devices=1,
        logger=False,
        callbacks=callbacks,
        default_root_dir=str(out),
        enable_checkpointing=False,
        enable_model_summary=False,
    )
    # The model's test step computes everything; its keys say test/, renamed to the split evaluated.
    (results,) = trainer.test(model, dataloaders=datamodule.loader(split, train=False), verbose=False)
    metrics: dict[str, Any] = {k.replace("test/", f"{split}/", 1): v for k, v in results.items()}
    metrics.update({f"{split}/{k}": v for k, v in model.latent_report["test"].items()})
    metrics.update({"ckpt_path": str(Path(ckpt_path).resolve()), "split": split, "num_samples": num_samples})
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    print(table(metrics, title=f"{Path(ckpt_path).name}, {split} split, K = {num_samples}"))
    print(f"metrics and pictures: {out}")
    return metrics


def table(metrics: dict[str, Any], title: str) -> str:
    scalars = {k: v for k, v in metrics.items() if isinstance(v, float)}
    width = max(map(len, scalars), default=10)
    rows = [title, "-" * (width + 16)] + [f"{k:<{width}}  {v:>14.4f}" for k, v in sorted(scalars.items())]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    return cli.command(evaluate, OPTIONS, __doc__, argv)


if __name__ == "__main__":
    raise SystemExit(main())
