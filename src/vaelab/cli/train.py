"""vaelab-train (and `python train.py`): compose conf/train.yaml with the command line, train,
test the best checkpoint, and return the metric a sweep optimises.

    vaelab-train objective=beta_tcvae objective.beta=6 model.latent_dim=10
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from vaelab.conf import CONF_DIR
from vaelab.config.composition import run, task_started
from vaelab.errors import reported


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
def app(cfg: DictConfig) -> float | None:
    task_started()  # Hydra composed the config: see vaelab.config.composition.run
    from vaelab.runs import collector

    with reported(), collector.paused():  # the imports are most of the start
        from vaelab.runs.train import train  # here: --help and a refused command line need no torch

        metrics = train(cfg)
    return metrics.get(cfg.get("optimized_metric"))


def main() -> int:
    """The console script: what Hydra cannot compose (a misspelled key, an unknown option) is one
    line, as every error."""
    return run(app, "train")


if __name__ == "__main__":
    raise SystemExit(main())
