"""vaelab's Hydra apps (vaelab-eval, vaelab-sample) in-process: their config composed as their
command line would compose it, HydraConfig set as Hydra sets it for a run, then the app's function."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from vaelab.cli.apps import CONF_DIR, command_line


def compose_app(app: str, *argv: str, output_dir: Path) -> DictConfig:
    """conf/<app>.yaml composed from `argv` (as the console script gets them), HydraConfig set,
    writing into `output_dir` (Hydra's run directory)."""
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose(app, overrides=command_line(list(argv), app), return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
    HydraConfig.instance().set_config(cfg)
    return cfg
