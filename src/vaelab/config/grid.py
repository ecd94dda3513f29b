"""The jobs of a grid sweep, as Hydra's basic sweeper launches them: the cartesian product of the
composed config's `hydra.sweeper.params` (an experiment's grid), in their order, the first
outermost; one list of overrides per job.

    python -m vaelab.config.grid experiment=disentanglement_study     # one job a line

prints `seed=0 study=beta_vae_1`, ...: scripts/run_study.sh runs each line as a run of its own,
so the script and `python train.py -m experiment=...` run the same grid. Sweeps on the command
line (a,b) are Hydra's own multirun's business: give them in the experiment's params instead.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Sequence

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser

from vaelab.conf import CONF_DIR


def jobs(overrides: Sequence[str] = ()) -> list[list[str]]:
    """[[key=value, ...] for each job] of the config composed from `overrides` (train.yaml's)."""
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=list(overrides), return_hydra_config=True)
    params = cfg.hydra.sweeper.get("params") or {}
    parsed = OverridesParser.create().parse_overrides([f"{key}={value}" for key, value in params.items()])
    axes = [
        [f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()] if o.is_sweep_override() else [o.input_line]
        for o in parsed
    ]
    return [list(job) for job in itertools.product(*axes)] if axes else []


def main(argv: Sequence[str] | None = None) -> None:
    for job in jobs(sys.argv[1:] if argv is None else argv):
        print(" ".join(job))


if __name__ == "__main__":
    main()
