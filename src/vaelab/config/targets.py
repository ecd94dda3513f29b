"""What a config may instantiate: the trust boundary, drawn in one place.

- **The user's own config** (the command line, and every config file composed from `conf/`,
  `--config-dir`, `hydra.searchpath` or an installed plugin's search path) is the user's code,
  exactly as `python their_script.py` is: any importable class or function may be named by
  `_target_` there (`check(tree)`, no `trust`). A name that does not import is one line naming
  the key, the target and the import error.
- **A checkpoint's stored config** is untrusted data from anywhere. It may name only vaelab's own
  components (the `__all__` of its component packages, below), a few families of torch, Lightning
  and Optuna classes, and classes from the packages the user trusts on this command
  (`trust=[mylab]`) or that an installed vaelab plugin declares (entry point group
  `vaelab.trusted`): `check(tree, source, trust=Trust.of(...))`. Anything else is refused, before
  anything is imported, in one line naming the target, where it sits, and the `trust=[...]`
  that would allow it.

Either way every keyword a node passes must be one its target takes. `instantiate` checks the
whole resolved tree first (nested dicts, lists, `_args_`, partials) and hands Hydra that same
checked tree. Every `instantiate` in vaelab goes through here.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import importlib.util
import inspect
import re
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from vaelab.errors import ConfigError, RefusedTarget

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
# Settings vaelab reads itself on a node of these targets and removes before building it:
# `trainer.compile` (vaelab.runs.compiled) is not an argument of Lightning's Trainer.
EXTRAS = {
    "lightning.pytorch.Trainer": ("compile", "steps_per_execution"),
    "lightning.Trainer": ("compile", "steps_per_execution"),
}
# vaelab functions that build a component.
FACTORIES = ("vaelab.logger.wandb_logger", "vaelab.logger.mlflow_logger")
ALLOWED = (
    "vaelab's own classes (vaelab.system, .model, .likelihood, .priors, .objectives, .kl_schedules, .data, "
    ".callbacks, .logger, .plugins, .lr_schedulers, .samplers), torch.optim optimisers "
    "and schedulers, Lightning's Trainer, callbacks and loggers, and Optuna's samplers and pruners"
)


#: Entry point group through which an installed plugin declares the packages it trusts.
TRUST_ENTRY_POINTS = "vaelab.trusted"


@dataclass(frozen=True)
class Trust:
    """What a checkpoint's config may name beyond vaelab's own: classes of these packages."""

    packages: tuple[str, ...] = ()
    # The packages the user named on the command line (trust=[...]); the rest came from plugins.
    named: tuple[str, ...] = ()

    @classmethod
    def of(cls, named: Iterable[str] | None = ()) -> Trust:
        """The user's `trust=[...]` and the packages every installed plugin declares."""
        from importlib.metadata import entry_points

        named = tuple(str(p) for p in (named or ()))
        for name in named:
            if not PACKAGE.fullmatch(name):
                raise ConfigError(
                    f"trust=[{', '.join(named)}]: {name!r} is not a package name (like mylab or mylab.models)"
                )
        plugins = tuple(ep.value for ep in entry_points(group=TRUST_ENTRY_POINTS) if PACKAGE.fullmatch(ep.value))
        return cls(tuple(dict.fromkeys(named + plugins)), named)

    def covers(self, target: str) -> bool:
        return any(target.startswith(package + ".") for package in self.packages)

    def allowing(self, target: str) -> str:
        """The trust=[...] setting that would allow `target`: the named packages and its top package."""
        top = target.split(".")[0]
        return f"trust=[{', '.join(dict.fromkeys([*self.named, top]))}]"


#: The trust under which a config is being resolved: resolvers that name classes
#: (vaelab.params_per_dim) judge them as `check` does. None: the user's own config.
_judging: ContextVar[Trust | None] = ContextVar("vaelab_judging", default=None)


@contextlib.contextmanager
def judging(trust: Trust | None) -> Iterator[None]:
    """Within the block, `current_trust()` is `trust` (while a checkpoint's config resolves)."""
    token = _judging.set(trust)
    try:
        yield
    finally:
        _judging.reset(token)


def current_trust() -> Trust | None:
    return _judging.get()


PACKAGE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def _import(dotted: str) -> Any:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def import_target(target: str) -> Any:
    """What a dotted name names, imported (`pkg.module.Class`, `pkg.module.Class.method`):
    the longest importable module prefix, then attributes. Raises ImportError saying why."""
    parts = target.split(".")
    for i in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError as err:
            if err.name is not None and not ".".join(parts[:i]).startswith(err.name):
                raise  # the module exists but one of its own imports is missing: say that
            continue
        for j, attr in enumerate(parts[i:], start=i):
            try:
                found = getattr(found, attr)
            except AttributeError:
                raise ImportError(f"module {'.'.join(parts[:j])!r} has no attribute {attr!r}") from None
        return found
    raise ImportError(f"no module named {parts[0]!r}")


def trusted_class(target: str, trust: Trust) -> Any:
    """The class a checkpoint's `_target_` names if `trust` covers its package; else None."""
    if not trust.covers(target):
        return None
    try:
        found = import_target(target)
    except ImportError:
        return None
    return found if inspect.isclass(found) else None


def resolve_target(target: Any) -> Any:
    """The class (or vaelab factory) a `_target_` names, if it is vaelab's own or of the families
    below; else None. Only modules on the list are imported, and only after the name was checked."""
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


def nodes(tree: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every dict in a plain container tree that names a `_target_`, with its dotted path."""
    if isinstance(tree, dict):
        if "_target_" in tree:
            yield path, tree
        for key, value in tree.items():
            yield from nodes(value, f"{path}.{key}" if path else str(key))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield from nodes(value, f"{path}[{i}]")


def extras(node: dict[str, Any]) -> tuple[str, ...]:
    """The keys of `node` that vaelab reads itself (EXTRAS), not arguments of its target."""
    return tuple(k for k in EXTRAS.get(node.get("_target_"), ()) if k in node)


def without_extras(tree: Any) -> Any:
    """The plain container tree with every node's EXTRAS removed: what its targets are built from."""
    if isinstance(tree, dict):
        drop = extras(tree)
        return {k: without_extras(v) for k, v in tree.items() if k not in drop}
    if isinstance(tree, list):
        return [without_extras(v) for v in tree]
    return tree


def _accepts(fn: Any) -> set[str] | None:
    """The keyword names `fn` takes; None when it takes any (**kwargs) or cannot be inspected."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def check(tree: Any, source: str = "", prefix: str = "", trust: Trust | None = None) -> None:
    """Refuse, in one line, a `_target_` that may not be built here, or a keyword its target does
    not take. `trust` None: the user's own config, where anything importable may be named; a
    Trust: a checkpoint's config (see the module docstring). `tree` may be unresolved: a
    `_target_` that is an interpolation is judged once resolved. `source` (e.g.
    "ckpt_path=...") starts the message when the config came from a file."""
    said = f"{source}: " if source else ""
    for path, node in nodes(tree, prefix):
        where = path or "the top level"
        target = node["_target_"]
        if isinstance(target, str) and target.startswith("${"):
            continue
        fn = target_of(target, where, said, trust)
        takes = _accepts(fn)
        given = [k for k in node if not (k.startswith("_") and k.endswith("_")) and k not in extras(node)]
        unknown = [k for k in given if takes is not None and k not in takes]
        if unknown:
            close = difflib.get_close_matches(unknown[0], sorted(takes), n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ConfigError(
                f"{said}{where}.{unknown[0]}: {node['_target_']} takes no argument {unknown[0]!r}; "
                f"{hint}it takes {', '.join(sorted(takes)) or 'none'}"
            )


def target_of(target: Any, where: str, said: str, trust: Trust | None) -> Any:
    """What `target` at `where` names, if it may be built here (see `check`); else one line why not."""
    if not isinstance(target, str) or not PACKAGE.fullmatch(target):
        raise RefusedTarget(f"{said}{where}._target_={target!r}: not a dotted name of a class or function")
    if trust is None:
        try:
            return import_target(target)
        except ImportError as err:
            raise RefusedTarget(
                f"{said}{where}._target_={target!r}: cannot be imported ({type(err).__name__}: {err})"
            ) from None
    fn = resolve_target(target) or trusted_class(target, trust)
    if fn is None:
        top = target.split(".")[0]
        if not _installed(top):  # a plugin's class, and the plugin is not on this Python's path
            remedy = (
                f"{top!r} is not installed here: install the package that provides it and trust it: "
                f"{trust.allowing(target)}"
            )
        else:
            remedy = f"{trust.allowing(target)} on this command would allow it (only if you trust that package's code)"
        raise RefusedTarget(
            f"{said}refused to instantiate {target!r} at {where}: a checkpoint's config may name only "
            f"{ALLOWED}, and classes of the packages you trust; {remedy}"
        )
    return fn


def _installed(package: str) -> bool:
    """Whether a top-level package can be found, without importing (running) any of it."""
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def instantiate(
    cfg: DictConfig | ListConfig,
    source: str = "",
    path: str = "",
    trust: Trust | None = None,
    kind: type | tuple[type, ...] | None = None,
    **kwargs: Any,
) -> Any:
    """hydra.utils.instantiate(cfg, **kwargs), after `check` of the whole resolved tree.

    `path` is where cfg sits in the full config (for messages, e.g. "model"); `trust` as in
    `check` (None for the user's own config, a Trust for a checkpoint's); `kind`, the class(es)
    the built object must be an instance of, checked before it is built. The tree is
    resolved once and the checked plain containers are what Hydra instantiates, so nothing
    can change between the check and the call."""
    from hydra.utils import instantiate as hydra_instantiate

    with judging(trust):
        tree = OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else cfg
    check(tree, source, path, trust)
    if kind is not None and isinstance(tree, dict):
        built = target_of(tree["_target_"], path, "", trust)
        if not (inspect.isclass(built) and issubclass(built, kind)):
            kinds = kind if isinstance(kind, tuple) else (kind,)
            names = " or ".join(f"{k.__module__}.{k.__qualname__}" for k in kinds)
            raise RefusedTarget(f"{path}._target_={tree['_target_']!r}: must be a subclass of {names}")
    return hydra_instantiate(without_extras(tree), **kwargs)
