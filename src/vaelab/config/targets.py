"""What a config may instantiate: vaelab's own components and a few families of torch and
Lightning classes, checked by name before anything is imported or called.

A `_target_` in a config is code to run. Configs come from files users share and from
checkpoints, so `instantiate` here walks the whole resolved tree first (nested dicts, lists,
`_args_`, partials) and refuses, in one line naming the target and where it sits, any
`_target_` that is not on the list below; then it checks that every keyword a node passes is
one its target takes. Only then is Hydra's instantiate called, on that same resolved tree.
Every `instantiate` in vaelab goes through here.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Iterator
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

# vaelab's component packages: what their `__all__` exports is what vaelab ships.
SHIPPED = (
    "vaelab.system",
    "vaelab.model",
    "vaelab.likelihood",
    "vaelab.priors",
    "vaelab.objectives",
    "vaelab.kl_schedules",
    "vaelab.lr_schedulers",
    "vaelab.data",
    "vaelab.callbacks",
    "vaelab.logger",
    "vaelab.plugins",
    "vaelab.samplers",
)
# Modules whose classes of one kind a config may swap in: module -> (dotted name of the base class).
FAMILIES = {
    "torch.optim": ("torch.optim.Optimizer",),
    "torch.optim.lr_scheduler": ("torch.optim.lr_scheduler.LRScheduler", "torch.optim.lr_scheduler.ReduceLROnPlateau"),
    "lightning.pytorch.callbacks": ("lightning.pytorch.callbacks.Callback",),
    "lightning.pytorch.loggers": ("lightning.pytorch.loggers.Logger",),
    # Optuna's samplers and pruners: built by vaelab's sweeper and, for pruning, inside each trial.
    "optuna.samplers": ("optuna.samplers.BaseSampler",),
    "optuna.pruners": ("optuna.pruners.BasePruner",),
}
EXACT = ("lightning.pytorch.Trainer", "lightning.Trainer")
# vaelab functions that build a component.
FACTORIES = ("vaelab.logger.wandb_logger",)
ALLOWED = (
    "vaelab's own classes (vaelab.system, .model, .likelihood, .priors, .objectives, .kl_schedules, .data, "
    ".callbacks, .logger, .plugins, .lr_schedulers, .samplers), torch.optim optimisers "
    "and schedulers, Lightning's Trainer, callbacks and loggers, and Optuna's samplers and pruners"
)


class RefusedTarget(ValueError):
    """A config names something vaelab will not instantiate."""


def _import(dotted: str) -> Any:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def resolve_target(target: Any) -> Any:
    """The class (or vaelab factory) a `_target_` names, if it is on the list; else None.
    Only modules on the list are imported, and only after the name was checked."""
    if not isinstance(target, str):
        return None
    if target in EXACT:
        return _import(target)
    module, _, name = target.rpartition(".")
    if module in SHIPPED:
        mod = importlib.import_module(module)
        found = getattr(mod, name) if name in getattr(mod, "__all__", ()) else None
        # Classes only (a public helper function is not a component), and the factories named here.
        return found if inspect.isclass(found) or target in FACTORIES else None
    if module in FAMILIES and not name.startswith("_"):
        found = getattr(importlib.import_module(module), name, None)
        bases = tuple(_import(b) for b in FAMILIES[module])
        return found if inspect.isclass(found) and issubclass(found, bases) else None
    return None


def _nodes(tree: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every dict in a plain container tree that names a `_target_`, with its dotted path."""
    if isinstance(tree, dict):
        if "_target_" in tree:
            yield path, tree
        for key, value in tree.items():
            yield from _nodes(value, f"{path}.{key}" if path else str(key))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield from _nodes(value, f"{path}[{i}]")


def _accepts(fn: Any) -> set[str] | None:
    """The keyword names `fn` takes; None when it takes any (**kwargs) or cannot be inspected."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def check(tree: Any, source: str = "", prefix: str = "") -> None:
    """Refuse, in one line, a `_target_` not on the list, or a keyword its target does not take.
    `tree` may be unresolved: a `_target_` that is an interpolation is judged once resolved.
    `source` (e.g. "ckpt_path=...") starts the message when the config came from a file."""
    said = f"{source}: " if source else ""
    for path, node in _nodes(tree, prefix):
        where = path or "the top level"
        if isinstance(node["_target_"], str) and node["_target_"].startswith("${"):
            continue
        fn = resolve_target(node["_target_"])
        if fn is None:
            raise RefusedTarget(
                f"{said}refused to instantiate {node['_target_']!r} at {where}: "
                f"a config may only name {ALLOWED} in _target_"
            )
        takes = _accepts(fn)
        given = [k for k in node if not (k.startswith("_") and k.endswith("_"))]
        unknown = [k for k in given if takes is not None and k not in takes]
        if unknown:
            close = difflib.get_close_matches(unknown[0], sorted(takes), n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ValueError(
                f"{said}{where}.{unknown[0]}: {node['_target_']} takes no argument {unknown[0]!r}; "
                f"{hint}it takes {', '.join(sorted(takes)) or 'none'}"
            )


def instantiate(cfg: DictConfig | ListConfig, source: str = "", path: str = "", **kwargs: Any) -> Any:
    """hydra.utils.instantiate(cfg, **kwargs), after `check` of the whole resolved tree.

    `path` is where cfg sits in the full config (for messages, e.g. "model"). The tree is
    resolved once and the checked plain containers are what Hydra instantiates, so nothing
    can change between the check and the call."""
    from hydra.utils import instantiate as hydra_instantiate

    tree = OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else cfg
    check(tree, source, path)
    return hydra_instantiate(tree, **kwargs)
