"""hydra-optuna-sweeper, made to resume: run the same command again and the study goes on.

The plugin already reopens a study stored in SQLite (load_if_exists), but then runs
`n_trials` new trials on top of those done. This sweeper counts the trials the stored
study has finished (complete or failed) and runs only the rest, so `n_trials` is the size
of the whole search; trials that were running when the search was killed are marked failed.
Hydra loads it through hydra_plugins.vaelab_sweepers.ResumableOptunaSweeper.
"""

from __future__ import annotations

import logging
from pathlib import Path

import optuna
from hydra_plugins.hydra_optuna_sweeper._impl import OptunaSweeperImpl

log = logging.getLogger(__name__)

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL, optuna.trial.TrialState.PRUNED)


class ResumableOptunaSweeperImpl(OptunaSweeperImpl):
    def sweep(self, arguments: list[str]) -> None:
        total = self.n_trials
        if isinstance(self.storage, str) and self.storage.startswith("sqlite:///"):
            Path(self.storage.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        if self.storage is not None:
            try:
                study = optuna.load_study(study_name=self.study_name, storage=self.storage)
            except KeyError:  # no such study yet: a new search
                study = None
            if study is not None:
                for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
                    study._storage.set_trial_state(trial._trial_id, optuna.trial.TrialState.FAIL)
                done = len(study.get_trials(deepcopy=False, states=FINISHED))
                self.n_trials = max(0, total - done)
                # Job numbers go on from the stored trials, so no trial directory is written twice.
                self.job_idx = len(study.trials)
                # A sampler re-created with the same seed would propose the first trials again.
                if done and hasattr(self.sampler, "reseed_rng"):
                    self.sampler.reseed_rng()
                log.info(
                    "Resuming study %s: %d of %d trials done, %d to go", self.study_name, done, total, self.n_trials
                )
        if self.n_trials == 0:
            log.info("All %d trials of study %s are done", total, self.study_name)
            return
        super().sweep(arguments)
