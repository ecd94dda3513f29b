"""Hydra finds sweepers only in the `hydra_plugins` namespace: this is the entry for vaelab's
Optuna sweeper (`override /hydra/sweeper: optuna`, see conf/hparams_search/optuna.yaml).

Hydra imports this module at every start (its plugin scan), so it imports nothing heavy: the
work is in vaelab.hparams_search.sweeper, imported with Optuna when a sweep is set up.
"""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.plugins.sweeper import Sweeper


@dataclass
class OptunaSweeperConf:
    """hydra.sweeper's settings (their meaning: conf/hparams_search/optuna.yaml)."""

    _target_: str = "hydra_plugins.vaelab_sweepers.OptunaSweeper"
    # The sampler and pruner nodes reach the sweeper as configs: vaelab builds them through its
    # allow-list (vaelab.config.targets), and each trial builds the pruner again to prune itself.
    _recursive_: bool = False
    storage: Any = None
    study_name: str = "vae_search"
    direction: str = "minimize"
    n_trials: int = 20
    n_jobs: int = 1
    max_failure_rate: float = 1.0
    heartbeat_interval: float = 60.0
    grace_period: Any = None
    sampler: Any = None
    pruner: Any = None
    params: Any = None


ConfigStore.instance().store(group="hydra/sweeper", name="optuna", node=OptunaSweeperConf, provider="vaelab")


class OptunaSweeper(Sweeper):
    """An Optuna study, one Hydra job per trial (vaelab.hparams_search.sweeper)."""

    def __init__(self, **settings: Any) -> None:
        self.settings = settings
        self.search = None

    def setup(self, *, hydra_context, task_function, config) -> None:
        from vaelab.hparams_search.sweeper import OptunaSearch

        with _one_line():
            self.search = OptunaSearch(**self.settings)
            self.search.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> Any:
        with _one_line():
            study, space, fixed = self.search.prepare(arguments)
        return self.search.run(study, space, fixed)


@contextmanager
def _one_line() -> Iterator[None]:
    """A bad setting ends the command with one line before any trial, as vaelab's errors do
    (vaelab.errors keeps tracebacks in a multirun, for the jobs' failures; these are not jobs')."""
    try:
        yield
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(1) from None
