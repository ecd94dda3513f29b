"""vaelab-eval and vaelab-sample as Hydra apps (conf/eval.yaml, conf/sample.yaml) over a checkpoint.

A group chosen on their command line (data=mnist) replaces the checkpoint's (the model-defining
groups only when they match: the weights define them), and every other `key=value` that is not
the app's own changes the checkpoint's config, with every check of vaelab.runs.checkpoint
(`command_line`, `from_command_line`, `load_model`).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf, open_dict

from vaelab.conf import CONF_DIR
from vaelab.config import schema
from vaelab.config.composition import options
from vaelab.errors import ConfigError
from vaelab.runs.checkpoint import parse_overrides


@functools.cache
def app_layout(app: str) -> tuple[frozenset[str], dict[str, Any]]:
    """(the app's own settings: its top-level keys and groups, its defaults list as {group: default
    choice}) from conf/<app>.yaml. A group whose default is null is one of the checkpoint's: named on the
    command line, it replaces the checkpoint's config of that group."""
    tree = yaml.safe_load((CONF_DIR / f"{app}.yaml").read_text())
    defaults: dict[str, Any] = {}
    for entry in tree.get("defaults", []):
        if isinstance(entry, dict):
            ((group, choice),) = entry.items()
            defaults[group.removeprefix("optional ")] = choice
    # The app's own groups (sampler=..., hydra) count as its own settings.
    own = set(tree) - {"defaults"} | {g for g, choice in defaults.items() if choice is not None}
    return frozenset(own), defaults


def command_line(argv: Sequence[str], app: str) -> list[str]:
    """The arguments for Hydra: a `key=value` of the checkpoint's config (not the app's own, not
    a group chosen here) becomes `++key=value`, so that Hydra carries it (and sweeps it under -m)
    instead of refusing a key that conf/<app>.yaml lacks; `from_command_line` then applies it to
    the checkpoint's config, where an unknown key is refused."""
    own, defaults = app_layout(app)
    words = [w for w in argv if "=" in w and not w.startswith("-")]
    chosen = {w.partition("=")[0].lstrip("+~") for w in words}
    result = []
    for word in argv:
        key = word.partition("=")[0]
        root = key.split(".")[0]
        app_key = key in defaults or root in own or (root in defaults and root in chosen)
        plain = word in words and not word.startswith(("+", "~")) and "/" not in key
        result.append(word if app_key or not plain else f"++{word}")
    return result


def from_command_line(cfg: DictConfig, app: str) -> tuple[dict[str, tuple[str, Any]], list[str]]:
    """From the running Hydra app's command line (HydraConfig): the checkpoint groups chosen
    there, {group: (choice, its config as composed, interpolations kept)}, and the overrides of
    the checkpoint's other settings (see `command_line`)."""
    from hydra.core.hydra_config import HydraConfig

    hydra_cfg = HydraConfig.get()
    own, defaults = app_layout(app)
    choices = hydra_cfg.runtime.choices
    groups = {
        g: (choices[g], OmegaConf.to_container(cfg[g], resolve=False) if cfg.get(g) is not None else None)
        for g, default in defaults.items()
        if default is None and choices.get(g) not in (None, "null")
    }
    overrides = []
    for override in parse_overrides(list(hydra_cfg.overrides.task)):
        key = override.key_or_group
        root = key.split(".")[0]
        if not (key in defaults or root in own or root in groups):
            overrides.append(override.input_line.removeprefix("++"))  # as the user wrote it
    return groups, overrides


def app_settings(cfg: DictConfig, app: str, section: Any) -> dict[str, Any]:
    """The app's own settings (conf/<app>.yaml and its own groups), checked against `section`
    (its schema, e.g. schema.EvalApp), resolved; before any work."""
    if OmegaConf.is_missing(cfg, "ckpt_path"):
        raise ConfigError("ckpt_path: missing; give the checkpoint: ckpt_path=PATH")
    own, _ = app_layout(app)
    return schema.validate(OmegaConf.masked_copy(cfg, [k for k in own if k != "hydra" and k in cfg]), section)


def run_app(hydra_main: Callable[[], Any], app: str, argv: Sequence[str] | None = None) -> int:
    """A console script's body: the Hydra app `hydra_main` on `argv` (default: sys.argv[1:]) after
    `command_line`; its exit code (errors are one line, see vaelab.errors)."""
    from vaelab.errors import exit_code
    from vaelab.runs.io import make_dir

    words = sys.argv[1:] if argv is None else list(argv)
    for key, _, value in (word.partition("=") for word in words):
        # Hydra creates these before the app starts, and would say why it cannot in a traceback.
        if (
            key in ("hydra.run.dir", "hydra.sweep.dir")
            and "${" not in value
            and (code := exit_code(make_dir, value, key))
        ):
            return code
    from vaelab.config.composition import run

    saved = sys.argv
    sys.argv = [saved[0], *command_line(words, app)]
    try:
        return run(hydra_main, app, words)  # what Hydra cannot compose: one line
    finally:
        sys.argv = saved


def beside_run(ckpt_path: str | None, folder: str) -> str:
    """OmegaConf resolver `vaelab.beside_run`: <run>/<folder> for a checkpoint <run>/checkpoints/x.ckpt
    (for a checkpoint elsewhere, <its directory>/<folder>; for a W&B artifact, its download's)."""
    from vaelab.errors import reported
    from vaelab.logger import wandb_checkpoints as artifacts

    with reported():  # Hydra resolves this before the app starts: a missing ckpt_path in one line
        if ckpt_path is None:
            raise ConfigError("ckpt_path: missing; give the checkpoint: ckpt_path=PATH")
        if artifacts.is_artifact(ckpt_path):  # wandb:ENTITY/PROJECT/ARTIFACT:ALIAS, downloaded there
            artifacts.check(ckpt_path)
            ckpt_path = artifacts.local_dir(ckpt_path) / artifacts.FILE
    path = Path(str(ckpt_path)).expanduser().absolute()
    run = path.parent.parent if path.parent.name == "checkpoints" else path.parent
    return str(run / folder)


def data_config(name: str, ckpt_cfg: DictConfig, data_dir: str | None = None) -> DictConfig:
    """conf/data/<name>.yaml as the checkpoint's run would have composed it (its paths and seed),
    resolved and checked by the schema; `data_dir` replaces the config's own."""
    if name not in options("data"):
        raise ConfigError(f"ood: unknown data config {name!r}; choose from {', '.join(options('data'))}")
    cfg = ckpt_cfg.copy()
    with open_dict(cfg):
        cfg.data = OmegaConf.load(CONF_DIR / "data" / f"{name}.yaml")
        if data_dir is not None:
            cfg.data.data_dir = data_dir
    schema.validate(cfg)
    return OmegaConf.create(OmegaConf.to_container(cfg.data, resolve=True))
