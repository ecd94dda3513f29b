"""Rebuild a trained model from its checkpoint alone.

Every vaelab checkpoint stores the resolved config that built its model (see
`VAE.on_save_checkpoint`), so the model is re-instantiated from that config and the
weights are loaded into it. Loading uses `torch.load(weights_only=True)`: tensors and
plain containers only, never arbitrary pickled objects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"ckpt_path={path}: no such file")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, not a torch file, a pickle with code in it, ...
        raise ValueError(f"ckpt_path={path}: not a readable checkpoint ({type(err).__name__}: {err})") from err
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ValueError(f"ckpt_path={path}: not a Lightning checkpoint (no state_dict)")
    if not isinstance(checkpoint.get("vaelab"), dict) or "config" not in checkpoint["vaelab"]:
        raise ValueError(f"ckpt_path={path}: holds no vaelab config, so the model cannot be rebuilt from it")
    return checkpoint


def load_model(path: str | Path, overrides: list[str] | None = None) -> tuple[Any, DictConfig, dict[str, Any]]:
    """(model in eval mode, its config with `overrides` applied, the checkpoint dict)."""
    checkpoint = read_checkpoint(path)
    cfg = OmegaConf.create(checkpoint["vaelab"]["config"])
    if overrides:
        cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(overrides))
    model = instantiate(cfg.model)
    load_weights(model, checkpoint, path, f" with {', '.join(overrides)}" if overrides else "")
    model.run_info = checkpoint["vaelab"]
    return model.eval(), cfg, checkpoint


def load_weights(model, checkpoint: dict[str, Any], path: str | Path, context: str = "") -> None:
    """Load a checkpoint's weights, or say clearly that they belong to a model of another shape."""
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as err:
        detail = " ".join(str(err).split())[:400]
        raise ValueError(
            f"ckpt_path={path}: its weights do not fit the model its config describes{context}: {detail}"
        ) from err
