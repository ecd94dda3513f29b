"""Checkpoints as W&B artifacts, and back.

With `logger.wandb.log_model=true` a finished run logs its best checkpoint (on val/loss) and its
last as versions of one model artifact, `model-<run id>`, aliased `best` and `last` (one version
with both when they are the same file), the file inside named model.ckpt, the resolved config and
the final metrics as the artifact's metadata. (Lightning's own log_model aliases `latest` and
`best` and keeps only the ModelCheckpoint's settings and score.)

`vaelab-eval ckpt_path=wandb:ENTITY/PROJECT/ARTIFACT:ALIAS` downloads such an artifact (W&B must
be online) into ./artifacts/ARTIFACT-ALIAS/ and evaluates its model.ckpt; the evaluation is written
beside it, in ./artifacts/ARTIFACT-ALIAS/eval/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vaelab.errors import ConfigError

PREFIX = "wandb:"
FILE = "model.ckpt"


def log_checkpoints(run, output_dir: Path, metrics: dict[str, Any]) -> None:
    import wandb
    import yaml

    config_file = output_dir / "config.yaml"
    metadata = {
        "config": yaml.safe_load(config_file.read_text()) if config_file.is_file() else None,
        "metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float))},
    }
    files: dict[Path, list[str]] = {}
    best, last = metrics.get("best_checkpoint"), output_dir / "checkpoints" / "last.ckpt"
    for path, alias in ((Path(best) if best else None, "best"), (last, "last")):
        if path is not None and path.is_file():
            files.setdefault(path.resolve(), []).append(alias)
    for path, aliases in files.items():
        artifact = wandb.Artifact(f"model-{run.id}", type="model", metadata={**metadata, "checkpoint": path.name})
        artifact.add_file(str(path), name=FILE)
        run.log_artifact(artifact, aliases=aliases)


def is_artifact(ckpt_path: Any) -> bool:
    return isinstance(ckpt_path, str) and ckpt_path.startswith(PREFIX)


def local_dir(ckpt_path: str) -> Path:
    """Where `wandb:ENTITY/PROJECT/ARTIFACT:ALIAS` is downloaded to: ./artifacts/ARTIFACT-ALIAS."""
    name = ckpt_path.removeprefix(PREFIX).rsplit("/", 1)[-1]
    return Path("artifacts") / name.replace(":", "-")


def check(ckpt_path: str) -> str:
    """ENTITY/PROJECT/ARTIFACT:ALIAS of `ckpt_path`; one line if it is not that form or W&B is not
    online here (vaelab-eval checks it before Hydra makes the output directory: apps.beside_run)."""
    from vaelab.logger.wandb import choose_mode

    name = ckpt_path.removeprefix(PREFIX)
    if name.count("/") != 2 or ":" not in name.rsplit("/", 1)[-1]:
        raise ConfigError(f"ckpt_path={ckpt_path}: must be wandb:ENTITY/PROJECT/ARTIFACT:ALIAS (e.g. :best)")
    if choose_mode(None) != "online":
        raise ConfigError(
            f"ckpt_path={ckpt_path}: W&B is offline here (WANDB_MODE, or no credentials or network); "
            "download the artifact where W&B is online, or give a checkpoint file"
        )
    return name


def fetch(ckpt_path: str) -> Path:
    """The model.ckpt of the artifact `ckpt_path` names, downloaded; one line when W&B is not online
    or the artifact cannot be had."""
    name = check(ckpt_path)
    import wandb

    try:
        artifact = wandb.Api().artifact(name, type="model")
        directory = Path(artifact.download(root=str(local_dir(ckpt_path))))
    except Exception as err:  # wandb's CommError, ValueError, ...: its own first line says why
        raise ConfigError(f"ckpt_path={ckpt_path}: {str(err).strip().splitlines()[0]}") from None
    found = directory / FILE
    if not found.is_file():
        raise ConfigError(f"ckpt_path={ckpt_path}: the artifact holds no {FILE} (not a vaelab model artifact)")
    return found
