"""vaelab's Hydra configs: one group per swappable part (data/, model/, objective/, ...), shipped
inside the package so that an installed vaelab (a wheel, `pip install .`) finds them."""

from pathlib import Path

#: The folder of the configs: train.yaml, eval.yaml, sample.yaml and one folder per group.
CONF_DIR = Path(__file__).parent
