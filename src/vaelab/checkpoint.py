"""Rebuild a trained model from its checkpoint alone, trusting nothing in the file.

Every vaelab checkpoint stores the config that built its model (see `VAE.on_save_checkpoint`).
A checkpoint is data from anywhere, so reading one:
- `torch.load(weights_only=True)`: tensors and plain containers only, never pickled objects;
- the stored config may call no resolver but `vaelab.params_per_dim` (which itself accepts only
  vaelab's likelihoods): no environment reads, no file or directory access at resolution;
- every `_target_` in it must be on vaelab's list (vaelab.config.targets), checked over the
  whole resolved tree before anything is instantiated;
- its settings and the load-time overrides must pass the schema (vaelab.config.schema);
  an override of a key the config does not have is refused, not ignored.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from vaelab.config import schema, targets

# Interpolations in a stored config may reference other keys (${model.latent_dim}) and call this only.
SAFE_RESOLVERS = ("vaelab.params_per_dim",)
RESOLVER_CALL = re.compile(r"\$\{\s*([^\s:}{]+)\s*:")


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint dict, after checking it is a vaelab checkpoint whose config calls no unsafe resolver."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"ckpt_path={path}: no such file")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, not a torch file, a pickle with code in it, ...
        raise ValueError(f"ckpt_path={path}: not a readable checkpoint ({type(err).__name__}: {err})") from err
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ValueError(f"ckpt_path={path}: not a Lightning checkpoint (no state_dict)")
    if not isinstance(checkpoint.get("vaelab"), dict) or not isinstance(checkpoint["vaelab"].get("config"), dict):
        raise ValueError(f"ckpt_path={path}: holds no vaelab config, so the model cannot be rebuilt from it")
    _refuse_resolvers(checkpoint["vaelab"]["config"], f"ckpt_path={path}")
    _refuse_foreign_paths(checkpoint, f"ckpt_path={path}")
    _migrate(checkpoint)
    return checkpoint


def _migrate(checkpoint: dict[str, Any]) -> None:
    """A checkpoint from before the model/system split (vaelab 0.1.0: `model._target_:
    vaelab.model.VAE`, beta and kl_warmup_steps on the model) in today's layout: the system
    around the model, the ELBO objective with its beta, a linear KL schedule, the N(0, I) prior.
    Its weights move under `model.`. It can be evaluated and sampled, not resumed."""
    config = checkpoint["vaelab"]["config"]
    model = config.get("model")
    if not (isinstance(model, dict) and model.get("_target_") == "vaelab.model.VAE"):
        return
    beta, warmup = model.pop("beta", 1.0), model.pop("kl_warmup_steps", 0)
    config["prior"] = {"_target_": "vaelab.priors.StandardNormal", "latent_dim": "${model.latent_dim}"}
    config["objective"] = {"_target_": "vaelab.objectives.ELBO", "beta": beta, "free_bits": 0.0}
    config["kl_schedule"] = (
        {"_target_": "vaelab.kl_schedules.Linear", "steps": warmup}
        if warmup
        else {"_target_": "vaelab.kl_schedules.Constant"}
    )
    model.update(
        {"_target_": "vaelab.system.VAESystem", "prior": "${prior}", "objective": "${objective}"}
        | {"kl_schedule": "${kl_schedule}"}
    )
    checkpoint["state_dict"] = {f"model.{k}": v for k, v in checkpoint["state_dict"].items()}
    checkpoint["vaelab"]["migrated_from"] = "vaelab 0.1.0 (before the model/system split)"


def _refuse_foreign_paths(checkpoint: dict[str, Any], source: str) -> None:
    """On resume Lightning restores ModelCheckpoint's record (best, last and top-k paths) and
    later deletes the worst of the top k: a path outside the callback's own folder would let a
    crafted checkpoint delete any file. Honest records name files in that folder, wherever the
    run directory has since been moved."""
    for name, state in (checkpoint.get("callbacks") or {}).items():
        if not isinstance(state, dict) or not isinstance(state.get("dirpath"), str):
            continue
        root = os.path.normpath(state["dirpath"])
        named = [state.get(k) for k in ("best_model_path", "kth_best_model_path", "last_model_path")]
        named += list(state.get("best_k_models") or {})
        for file in filter(None, named):
            if os.path.commonpath([root, os.path.normpath(os.path.join(root, str(file)))]) != root:
                raise targets.RefusedTarget(
                    f"{source}: refused: the record of {name} names {file}, outside its folder {root}"
                )


def _refuse_resolvers(tree: Any, source: str, where: str = "") -> None:
    if isinstance(tree, dict):
        for key, value in tree.items():
            _refuse_resolvers(value, source, f"{where}.{key}" if where else str(key))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            _refuse_resolvers(value, source, f"{where}[{i}]")
    elif isinstance(tree, str):
        for name in RESOLVER_CALL.findall(tree):
            if name not in SAFE_RESOLVERS:
                raise targets.RefusedTarget(
                    f"{source}: refused: {where} calls the resolver {name!r}; a checkpoint's config may call "
                    f"only {', '.join(SAFE_RESOLVERS)}"
                )


def stored_config(checkpoint: dict[str, Any], path: str | Path, overrides: list[str] = ()) -> DictConfig:
    """The checkpoint's config with `key=value` overrides applied, checked: only known keys,
    only allowed targets, every value in its schema's range."""
    source = f"ckpt_path={path}"
    # The targets as written, then (below) as resolved: a config that does not even resolve
    # is still refused for what it names.
    targets.check(checkpoint["vaelab"]["config"], source)
    try:
        cfg = OmegaConf.create(checkpoint["vaelab"]["config"])
    except (OmegaConfBaseException, ValueError) as err:
        raise ValueError(f"{source}: its stored config is not readable ({' '.join(str(err).split())})") from None
    OmegaConf.set_struct(cfg, True)  # an override of a key the config lacks is an error, not a new key
    for override in overrides:
        cfg = _apply(cfg, override)
    # Only params_per_dim may run while resolving (see read_checkpoint); then the resolved targets.
    targets.check(schema.validate(cfg, source=f"{source}: "), source)
    return cfg


def _apply(cfg: DictConfig, override: str) -> DictConfig:
    key, sep, _ = override.partition("=")
    if not sep:
        raise ValueError(f"{override!r}: overrides are key=value")
    try:
        return OmegaConf.merge(cfg, OmegaConf.from_dotlist([override]))
    except OmegaConfBaseException as err:
        parent, _, leaf = key.rpartition(".")
        node = OmegaConf.select(cfg, parent) if parent else cfg
        known = list(node.keys()) if isinstance(node, DictConfig) else []
        close = difflib.get_close_matches(leaf, known, n=1)
        hint = f"; did you mean {parent + '.' if parent else ''}{close[0]}?" if close else ""
        if leaf not in known:
            raise ValueError(f"{override}: the checkpoint's config has no setting {key}{hint}") from None
        raise ValueError(f"{override}: {' '.join(str(err).split()[:20])}") from None


def load_model(path: str | Path, overrides: list[str] | None = None) -> tuple[Any, DictConfig, dict[str, Any]]:
    """(model in eval mode, its config with `overrides` applied, the checkpoint dict)."""
    checkpoint = read_checkpoint(path)
    cfg = stored_config(checkpoint, path, list(overrides or ()))
    model = targets.instantiate(cfg.model, source=f"ckpt_path={path}", path="model")
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
