"""The Optuna trial that a job of vaelab's sweeper runs, found from inside the job: what the
pruning callback (vaelab.callbacks.pruning) reports to.

The job may run in another process or on another machine than its sweeper (hydra/launcher=slurm),
so it opens the study itself, from what Hydra's config of the job holds: the storage and study
name (`hydra.sweeper`), the pruner (built again from `hydra.sweeper.pruner`; pruning decisions
depend only on it and the stored values), and the trial number, which is the job number (the
sweeper launches each batch of trials with Hydra's job numbers set to the trial numbers).
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

SWEEPER = "hydra_plugins.vaelab_sweepers.OptunaSweeper"


def current_trial():
    """The optuna.trial.Trial this job runs, or None outside a job of vaelab's Optuna sweeper."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None
    hydra = HydraConfig.get()
    sweeper = hydra.sweeper
    if hydra.mode != RunMode.MULTIRUN or sweeper.get("_target_") != SWEEPER or hydra.job.get("num") is None:
        return None
    import optuna

    from vaelab.config import targets
    from vaelab.hparams_search.storages import Storage

    storage = Storage(sweeper.storage).open()
    pruner = targets.instantiate(sweeper.pruner, path="hydra.sweeper.pruner") if sweeper.pruner else None
    # The job samples nothing: a RandomSampler is the cheapest the Trial can be given.
    study = optuna.load_study(
        study_name=sweeper.study_name, storage=storage, pruner=pruner, sampler=optuna.samplers.RandomSampler()
    )
    study_id = storage.get_study_id_from_name(study.study_name)
    trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, int(hydra.job.num))
    return optuna.trial.Trial(study, trial_id)
