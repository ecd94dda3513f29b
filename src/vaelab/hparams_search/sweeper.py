"""vaelab's Optuna sweeper: a study driven through Optuna's ask-and-tell interface, one Hydra job
per trial (`python train.py -m hparams_search=optuna`; entry: hydra_plugins.vaelab_sweepers).

The loop, in every worker (any number of processes may run the same command on one study):
1. open the study in `hydra.sweeper.storage` (create_study(load_if_exists=True)), fail the
   RUNNING trials whose worker is gone (vaelab.hparams_search.workers);
2. under the storage's lock (vaelab.hparams_search.storages): count the study's trials and ask
   for up to n_jobs more while fewer than n_trials exist, so `n_trials` is the size of the whole
   study: run the same command again and it goes on where it stopped; with several workers they
   make n_trials together. The trials of a batch get consecutive numbers, so Hydra's job number
   is the trial number: the trial's run directory is SWEEP_DIR/trial_<number>, unique across
   workers, and the job finds its trial by it (vaelab.hparams_search.trial, for pruning);
3. launch the batch with Hydra's launcher (in-process, or SLURM with hydra/launcher=slurm),
   recording each trial's heartbeat meanwhile; then tell each trial: its value when the job
   returned one, PRUNED when its pruner stopped it (optuna.TrialPruned), FAIL otherwise.

The sampler is re-made for every trial with seed `sampler.seed + trial number`: proposals are
reproducible, yet workers sharing a study and resumed searches do not repeat each other's.
Sampler and pruner are built through vaelab's allow-list (vaelab.config.targets), so a
misspelt argument is refused in one line before any trial runs.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import sys
from typing import Any

import optuna
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import DictConfig, OmegaConf
from optuna.trial import TrialState

from vaelab.config import targets
from vaelab.errors import ConfigError
from vaelab.hparams_search import search_space, workers
from vaelab.hparams_search.storages import Storage
from vaelab.runs.io import write_text

log = logging.getLogger(__name__)

DIRECTIONS = ("minimize", "maximize")


def _plain(value: Any) -> Any:
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


class OptunaSearch:
    """The sweeper's work; `hydra_plugins.vaelab_sweepers.OptunaSweeper` hands its settings over."""

    def __init__(
        self,
        storage: str | None,
        study_name: str,
        direction: str,
        n_trials: int,
        n_jobs: int,
        max_failure_rate: float,
        heartbeat_interval: float,
        grace_period: float | None,
        sampler: Any,
        pruner: Any,
        params: Any,
    ) -> None:
        checks = [
            ("direction", direction, direction in DIRECTIONS, "minimize or maximize"),
            # 0 would open (or create) a study and run nothing.
            ("n_trials", n_trials, n_trials >= 1, "an integer >= 1 (the size of the whole study)"),
            ("n_jobs", n_jobs, n_jobs >= 1, "an integer >= 1"),
            ("max_failure_rate", max_failure_rate, 0 <= max_failure_rate <= 1, "in [0, 1]"),
            ("heartbeat_interval", heartbeat_interval, heartbeat_interval > 0, "> 0 seconds"),
            ("study_name", study_name, bool(study_name), "a non-empty name"),
        ]
        grace_period = 3 * heartbeat_interval if grace_period is None else grace_period
        checks.append(("grace_period", grace_period, grace_period > heartbeat_interval, "> heartbeat_interval"))
        for name, value, ok, allowed in checks:
            if not ok:
                raise ConfigError(f"hydra.sweeper.{name}={value}: must be {allowed}")
        self.storage = Storage(storage)
        self.study_name, self.direction = study_name, direction
        self.n_trials, self.n_jobs, self.max_failure_rate = n_trials, n_jobs, max_failure_rate
        self.heartbeat_interval, self.grace_period = heartbeat_interval, grace_period
        self.sampler_cfg, self.pruner_cfg, self.params = _plain(sampler), _plain(pruner), _plain(params)
        for name, cfg in (("sampler", self.sampler_cfg), ("pruner", self.pruner_cfg)):
            if cfg is not None and not (isinstance(cfg, dict) and "_target_" in cfg):
                raise ConfigError(
                    f"hydra.sweeper.{name}={cfg}: must be null (Optuna's default) or a node with a _target_"
                )
        # Built now, so that a bad argument is refused before any trial; null: Optuna's default.
        self.pruner = self._build("pruner", self.pruner_cfg)
        self.sampler = self._build("sampler", self.sampler_cfg)
        self.seed = (self.sampler_cfg or {}).get("seed")

    def _build(self, name: str, cfg: dict | None, **kwargs: Any) -> Any:
        kind = {"sampler": optuna.samplers.BaseSampler, "pruner": optuna.pruners.BasePruner}[name]
        return None if cfg is None else targets.instantiate({**cfg, **kwargs}, path=f"hydra.sweeper.{name}", kind=kind)

    def sampler_for(self, number: int) -> Any:
        """The sampler that proposes trial `number`: seeded seed + number when the config sets a seed."""
        if self.seed is None:
            return self.sampler
        return self._build("sampler", self.sampler_cfg, seed=self.seed + number)

    def setup(self, *, hydra_context, task_function, config: DictConfig) -> None:
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function
        )

    def open_study(self) -> optuna.Study:
        from sqlalchemy.exc import OperationalError

        try:
            with self.storage.lock():  # a new database's tables and a new study: one worker at a time
                study = optuna.create_study(
                    storage=self.storage.open(),
                    study_name=self.study_name,
                    sampler=self.sampler,
                    pruner=self.pruner,
                    direction=self.direction,
                    load_if_exists=True,
                )
        except OperationalError as err:  # no server there, a refused login, a locked file
            reason = str(err.orig or err).strip().splitlines()[0]
            raise ConfigError(f"hydra.sweeper.storage={self.storage}: cannot open it ({reason})") from None
        stored = study.direction.name.lower()
        if stored != self.direction:
            raise ConfigError(
                f"hydra.sweeper.direction={self.direction}: study {self.study_name} in {self.storage} was made to "
                f"{stored}; set hydra.sweeper.direction={stored}, or a new hydra.sweeper.study_name"
            )
        return study

    def prepare(self, arguments: list[str]) -> tuple[optuna.Study, dict, list[str]]:
        """The search space, the fixed overrides and the study, opened: every check before a trial."""
        space, fixed = search_space.parse(self.params, arguments)
        return self.open_study(), space, fixed

    def run(self, study: optuna.Study, space: dict, fixed: list[str]) -> None:
        workers.fail_lost(study, self.grace_period)
        self.log_start(study)
        while True:
            trials = self.ask(study, space)
            if not trials:
                break
            overrides = [[*fixed, *(f"{k}={_override_value(v)}" for k, v in t.params.items())] for t in trials]
            try:
                with workers.heartbeat(trials, self.heartbeat_interval):
                    returns = self.launcher.launch(overrides, initial_job_idx=trials[0].number)
            except BaseException:  # Ctrl-C, a launcher that broke: the batch's trials end as failed
                for trial in trials:
                    _tell(study, trial, state=TrialState.FAIL)
                raise
            self.tell(study, trials, returns)
        self.write_results(study)

    def ask(self, study: optuna.Study, space: dict) -> list[optuna.trial.Trial]:
        """Up to n_jobs new trials while the study has fewer than n_trials (under the storage's lock)."""
        trials = []
        with self.storage.lock():
            count = len(study.get_trials(deepcopy=False))
            for number in range(count, min(count + self.n_jobs, self.n_trials)):
                if self.seed is not None:
                    study.sampler = self.sampler_for(number)
                trials.append(study.ask(space))
                if trials[-1].number != number:  # job numbers would not be trial numbers: stop
                    for trial in trials:
                        _tell(study, trial, state=TrialState.FAIL)
                    raise RuntimeError(
                        f"study {self.study_name}: asked for trial {number}, got {trials[-1].number}: another "
                        "process adds trials to this study without vaelab's lock"
                    )
        workers.claim(trials)
        return trials

    def tell(self, study: optuna.Study, trials: list, returns: list[JobReturn]) -> None:
        failures = []
        for trial, ret in zip(trials, returns):
            if ret.status == JobStatus.COMPLETED:
                value = _number(ret.return_value)
                if value is not None:
                    _tell(study, trial, values=value)
                    log.info("Trial %d: %s", trial.number, value)
                    continue
                why = "the run has no such metric" if ret.return_value is None else "not a finite number"
                err: BaseException = ValueError(f"trial {trial.number} returned {ret.return_value!r} ({why})")
                hydra_line = ""
            else:
                err, hydra_line = _job_error(ret)
            if isinstance(err, optuna.TrialPruned):
                _tell(study, trial, state=TrialState.PRUNED)
                log.info("Trial %d: %s", trial.number, err)
                continue
            _tell(study, trial, state=TrialState.FAIL)
            sys.stderr.write(hydra_line)
            log.warning("Trial %d failed: %s", trial.number, err)
            failures.append(err)
        if failures and len(failures) / len(returns) > self.max_failure_rate:
            log.error(
                "%d of %d trials failed, more than max_failure_rate=%s",
                len(failures),
                len(returns),
                self.max_failure_rate,
            )
            raise failures[0]

    def log_start(self, study: optuna.Study) -> None:
        trials = study.get_trials(deepcopy=False)
        running = sum(t.state == TrialState.RUNNING for t in trials)
        done = len(trials) - running
        to_go = max(0, self.n_trials - len(trials))
        if trials:
            log.info(
                "Resuming study %s: %d of %d trials done, %d to go%s",
                self.study_name,
                done,
                self.n_trials,
                to_go,
                f" ({running} running in other workers)" if running else "",
            )
        else:
            log.info("New study %s in %s: %d trials", self.study_name, self.storage, self.n_trials)

    def write_results(self, study: optuna.Study) -> None:
        """SWEEP_DIR/optimization_results.yaml: the best trial so far and how the trials ended."""
        trials = study.get_trials(deepcopy=False)
        counts = {state.name.lower(): sum(t.state == state for t in trials) for state in TrialState}
        results: dict[str, Any] = {"name": "optuna", "study_name": self.study_name, "n_trials": len(trials)}
        results["states"] = {k: v for k, v in counts.items() if v}
        if counts["complete"]:
            best = study.best_trial
            results |= {"best_trial": best.number, "best_params": best.params, "best_value": best.value}
            log.info("Best trial %d: %s = %s", best.number, best.params, best.value)
        log.info("Study %s: %s", self.study_name, ", ".join(f"{v} {k}" for k, v in results["states"].items()))
        write_text(f"{self.config.hydra.sweep.dir}/optimization_results.yaml", OmegaConf.to_yaml(results))


def _number(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _job_error(ret: JobReturn) -> tuple[BaseException, str]:
    """A failed job's exception, and the line Hydra writes to stderr when it is asked for it.

    Hydra's public `JobReturn.return_value` raises the job's exception after writing "Error
    executing job with overrides: [...]" to stderr. The line is held back here, so that a pruned
    trial (a normal outcome) does not print it; a failed trial prints it.
    """
    line = io.StringIO()
    try:
        with contextlib.redirect_stderr(line):
            _ = ret.return_value  # raises the job's exception
    except BaseException as exc:  # noqa: BLE001 - whatever the job raised is the trial's outcome
        return exc, line.getvalue()
    raise AssertionError(f"job {ret.overrides} has status {ret.status} but raised nothing")


def _override_value(value: Any) -> str:
    """A sampled value as Hydra reads it back (null and booleans in YAML's spelling)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _tell(study: optuna.Study, trial, **kwargs: Any) -> None:
    """study.tell, unless the trial is finished already (another worker failed it as lost)."""
    try:
        study.tell(trial, **kwargs)
    except ValueError as err:
        log.warning("Trial %d: not told %s (%s)", trial.number, kwargs, err)
