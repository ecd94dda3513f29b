"""vaelab's Optuna sweeper: its settings, its seeding, and end to end (`python train.py -m
hparams_search=optuna` on the 8x8 digits) two workers sharing a study in PostgreSQL, which then
resumes and prunes a hopeless trial (two workers on a journal file: test_storages.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
import yaml
from optuna.trial import TrialState

from tests.conftest import ROOT
from tests.helpers import warm
from vaelab.compare.cli import compare
from vaelab.hparams_search.storages import Storage

# A trial: a few batches an epoch; fixed beta, latent size and likelihood, so that the learning
# rate alone tells trials apart. No test split, no pictures, no end-of-sweep comparison.
TINY = [
    "hparams_search=optuna",
    "data=digits",
    "logger=none",
    "test=false",
    "++callbacks.rich_progress_bar=null",
    "callbacks.images=null",
    "trainer.limit_train_batches=6",
    "trainer.limit_val_batches=2",
    "trainer.enable_model_summary=false",
    "eval.val_num_samples=2",
    "objective.beta=1",
    "model.latent_dim=4",
    "likelihood=bernoulli",
    "~hydra.callbacks.comparison",
]


def sweep(tmp_path: Path, *args: str, wait: bool = True):
    """Run a worker: its output (wait) or its process."""
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    cmd = [sys.executable, "train.py", *TINY, *args, f"paths.log_dir={tmp_path}", f"paths.data_dir={tmp_path / 'data'}"]
    worker = warm.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return worker.communicate(timeout=600)[0] if wait else worker


def search(tmp_path: Path, **settings):
    """The sweeper's settings as conf/hparams_search/optuna.yaml has them, some replaced."""
    from vaelab.hparams_search.sweeper import OptunaSearch

    defaults = dict(
        storage=f"sqlite:///{tmp_path}/optuna.db",
        study_name="s",
        direction="minimize",
        n_trials=4,
        n_jobs=1,
        max_failure_rate=1.0,
        heartbeat_interval=60,
        grace_period=None,
        sampler={"_target_": "optuna.samplers.RandomSampler", "seed": 42},
        pruner={"_target_": "optuna.pruners.MedianPruner", "n_startup_trials": 5},
        params={"optimizer.lr": "tag(log, interval(1e-4, 3e-3))"},
    )
    return OptunaSearch(**{**defaults, **settings})


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"n_jobs": 0}, "hydra.sweeper.n_jobs=0: must be an integer >= 1"),
        ({"n_trials": 0}, "hydra.sweeper.n_trials=0: must be an integer >= 1 (the size of the whole study)"),
        ({"direction": "down"}, "hydra.sweeper.direction=down: must be minimize or maximize"),
        ({"grace_period": 30}, "hydra.sweeper.grace_period=30: must be > heartbeat_interval"),
        (
            {"pruner": {"_target_": "optuna.pruners.MedianPruner", "n_startup_trial": 5}},
            "hydra.sweeper.pruner.n_startup_trial: optuna.pruners.MedianPruner takes no argument 'n_startup_trial'; "
            "did you mean n_startup_trials?",
        ),
        (
            {"sampler": {"_target_": "os.system"}},
            "hydra.sweeper.sampler._target_='os.system': must be a subclass of optuna.samplers._base.BaseSampler",
        ),
    ],
)
def test_a_bad_sweeper_setting_is_one_line_before_any_trial(tmp_path, settings, message):
    with pytest.raises(ValueError) as refused:
        search(tmp_path, **settings)
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)
    assert not (tmp_path / "optuna.db").exists()


def test_trial_n_is_proposed_by_a_sampler_seeded_seed_plus_n_and_a_study_keeps_its_direction(tmp_path):
    sweeper = search(tmp_path)
    study = sweeper.open_study()
    space = {"x": optuna.distributions.FloatDistribution(0, 1)}
    asked = [t.params["x"] for t in sweeper.ask(study, space) + sweeper.ask(study, space)]
    # The same proposals, independently: a fresh RandomSampler seeded 42 + n on an empty study.
    for n, x in enumerate(asked):
        alone = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=42 + n))
        assert x == alone.ask(space).params["x"]
    assert len(set(asked)) == 2
    with pytest.raises(
        ValueError, match="hydra.sweeper.direction=maximize: study s in sqlite:///.* was made to minimize"
    ):
        search(tmp_path, direction="maximize").open_study()


def test_a_pruned_job_is_told_quietly_and_a_failed_one_with_hydras_line(tmp_path, capsys):
    """The sweeper reads a job's exception through Hydra's public JobReturn.return_value, which
    writes "Error executing job with overrides" first: kept for a failure, not for a pruning."""
    from hydra.core.utils import JobReturn, JobStatus

    sweeper = search(tmp_path)
    study = sweeper.open_study()
    space = {"x": optuna.distributions.FloatDistribution(0, 1)}
    trials = sweeper.ask(study, space) + sweeper.ask(study, space)
    returns = [JobReturn(overrides=[f"x={t.params['x']}"], status=JobStatus.FAILED) for t in trials]
    returns[0].return_value = optuna.TrialPruned("pruned at validation 1")
    returns[1].return_value = RuntimeError("the job broke")
    capsys.readouterr()
    sweeper.tell(study, trials, returns)
    err = capsys.readouterr().err
    assert [t.state for t in study.get_trials()] == [TrialState.PRUNED, TrialState.FAIL]
    assert err.count("Error executing job with overrides") == 1
    assert f"x={trials[1].params['x']}" in err and f"x={trials[0].params['x']}" not in err


def history(trial_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (trial_dir / "history.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_two_workers_share_a_postgresql_study_then_it_resumes_and_prunes_a_hopeless_trial(postgres_url, tmp_path):
    """Two `train.py -m hparams_search=optuna` processes at once on one study in PostgreSQL make
    exactly n_trials = 4 trials, each number once, each in its own run directory, reported to by
    its own job. The same study again with one trial more at lr 1e-7 (which cannot learn in 2
    epochs): the median rule prunes it at its first validation."""
    study_dir = tmp_path / "optuna" / "vae_search"
    common = [
        "trainer.max_epochs=2",
        f"hydra.sweeper.storage={postgres_url}",
        # No pruning among the first 4 (all learn); the 5th is judged from its first validation on.
        "hydra.sweeper.pruner.n_startup_trials=4",
        "hydra.sweeper.pruner.n_warmup_steps=0",
    ]
    workers = [
        sweep(tmp_path, *common, "hydra.sweeper.n_trials=4", "optimizer.lr=tag(log, interval(1e-3, 3e-3))", wait=False)
        for _ in range(2)
    ]
    outs = [w.communicate(timeout=600)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outs[0][-2000:] + outs[1][-2000:]
    study = optuna.load_study(study_name="vae_search", storage=Storage(postgres_url).open())
    trials = study.get_trials()
    assert sorted(t.number for t in trials) == [0, 1, 2, 3] and {t.state for t in trials} == {TrialState.COMPLETE}
    assert sorted(p.name for p in study_dir.glob("trial_*")) == ["trial_0", "trial_1", "trial_2", "trial_3"]
    for t in trials:
        run = study_dir / f"trial_{t.number}"
        assert yaml.safe_load((run / ".hydra" / "hydra.yaml").read_text())["hydra"]["job"]["num"] == t.number
        assert f"optimizer.lr={t.params['optimizer.lr']}" in yaml.safe_load(
            (run / ".hydra" / "overrides.yaml").read_text()
        )
        assert json.loads((run / "status.json").read_text())["state"] == "finished"
        rows = history(run)  # one run wrote there, once, and reported each validation to its own trial
        assert t.intermediate_values == pytest.approx({k + 1: row["val/nll"] for k, row in enumerate(rows)}, rel=1e-6)
        assert t.value == pytest.approx(json.loads((run / "metrics.json").read_text())["val/nll"], rel=1e-6)

    out = sweep(tmp_path, *common, "hydra.sweeper.n_trials=5", "optimizer.lr=1e-7", "logger=wandb")
    assert "Resuming study vae_search: 4 of 5 trials done, 1 to go" in out, out[-3000:]
    hopeless = study.trials[4]
    assert hopeless.state == TrialState.PRUNED
    # The median rule, computed independently: pruned at step 1, before its last epoch, because
    # its value there is worse than the median of the completed trials' values at step 1.
    assert hopeless.intermediate_values == pytest.approx({1: history(study_dir / "trial_4")[0]["val/nll"]}, rel=1e-6)
    assert hopeless.intermediate_values[1] > np.median([t.intermediate_values[1] for t in trials])
    status = json.loads((study_dir / "trial_4" / "status.json").read_text())
    assert status["state"] == "pruned" and "trial 4 pruned by MedianPruner at validation 1" in status["reason"]
    assert not (study_dir / "trial_4" / "metrics.json").exists()
    # Its W&B run ended (finished, exit code 0) with "pruned" as the summary's state.
    (offline,) = (study_dir / "trial_4" / "wandb").glob("offline-run-*")
    wandb = [Path(sys.executable).parent / "wandb", "leet", "inspect", "--summary", "--json", str(offline)]
    record = json.loads(warm.run(wandb, capture_output=True, text=True, timeout=120).stdout)
    assert record["summary"]["state"] == "pruned" and record["exit_code"] == 0

    results = yaml.safe_load((study_dir / "optimization_results.yaml").read_text())
    assert results["states"] == {"complete": 4, "pruned": 1}
    assert results["best_value"] == pytest.approx(min(t.value for t in trials))
    # vaelab-compare (what the end of a sweep writes too) lists it as pruned, and why.
    table = (compare([str(study_dir)], metric="val/nll", split="val") / "comparison.md").read_text()
    assert "| pruned |" in table and "Pruned runs:" in table and "trial 4 pruned by MedianPruner" in table
