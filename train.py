"""Train a VAE: `python train.py [overrides]`, e.g. `python train.py model.beta=4 likelihood=continuous_bernoulli`.

Composes conf/train.yaml, runs vaelab.run.train, and returns the metric a sweep optimises.
"""

import hydra
from omegaconf import DictConfig

from vaelab.config.composition import run, task_started
from vaelab.errors import reported
from vaelab.run import train


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    task_started()  # Hydra composed the config: see vaelab.config.composition.run
    with reported():
        metrics = train(cfg)
    return metrics.get(cfg.get("optimized_metric"))


if __name__ == "__main__":
    # What Hydra cannot compose (a misspelled key, an unknown option) is one line, as every error.
    raise SystemExit(run(main, "train"))
