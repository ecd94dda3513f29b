"""Hydra finds sweepers only in the `hydra_plugins` namespace: this is the entry for vaelab's.

The implementation lives in vaelab.hparams_search.optuna and is imported only when the
sweeper is used, so that Hydra's plugin scan at every start does not import Optuna.
"""

from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper


class ResumableOptunaSweeper(OptunaSweeper):
    """OptunaSweeper whose `n_trials` is the size of the whole study, so it resumes (see vaelab.hparams_search)."""

    def __init__(self, *args, **kwargs) -> None:
        from vaelab.hparams_search.optuna import ResumableOptunaSweeperImpl

        super().__init__(*args, **kwargs)
        self.sweeper = ResumableOptunaSweeperImpl(*args, **kwargs)
