"""Study storages: the URL forms, and the lock under which workers ask, tested with two real
processes racing to fill one study on SQLite, a journal file and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tests.conftest import ROOT
from vaelab.hparams_search.storages import Storage
from vaelab.hparams_search.workers import WORKER

# One worker: the sweeper's own open_study and ask (n_jobs=2 a batch), each trial told at once;
# it starts asking when the file argv[2] exists, so that both workers ask at the same time.
WORKER_SCRIPT = """
import sys, time
from pathlib import Path
from vaelab.hparams_search.sweeper import OptunaSearch
search = OptunaSearch(sys.argv[1], "race", "minimize", 20, 2, 1.0, 60, None,
                      {"_target_": "optuna.samplers.RandomSampler", "seed": 0}, None, None)
study = search.open_study()
print("ready", flush=True)
while not Path(sys.argv[2]).exists():
    time.sleep(0.01)
while trials := search.ask(study, {}):
    for trial in trials:
        study.tell(trial, 0.0)
"""


def race(url: str, tmp_path: Path) -> list[optuna.trial.FrozenTrial]:
    go = tmp_path / "go"
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER_SCRIPT, url, str(go)], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    try:
        for worker in workers:
            assert worker.stdout.readline().strip() == "ready"
        go.touch()
        for worker in workers:
            assert worker.wait(timeout=120) == 0
    finally:
        for worker in workers:
            worker.kill()
    return optuna.load_study(study_name="race", storage=Storage(url).open()).get_trials()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["journal", "postgresql"])  # SQLite takes the journal's lock
def test_two_workers_make_exactly_n_trials_in_batches_of_consecutive_numbers(kind, tmp_path, request):
    url = f"journal://{tmp_path}/study/optuna.log" if kind == "journal" else request.getfixturevalue("postgres_url")
    trials = race(url, tmp_path)
    assert sorted(t.number for t in trials) == list(range(20))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    by_worker: dict[str, list[int]] = {}
    for t in sorted(trials, key=lambda t: t.number):
        by_worker.setdefault(t.user_attrs[WORKER], []).append(t.number)
    assert len(by_worker) == 2, by_worker  # both raced
    for numbers in by_worker.values():  # asked two at a time under the lock: pairs 2k, 2k + 1
        assert all(a % 2 == 0 and b == a + 1 for a, b in zip(numbers[::2], numbers[1::2])), numbers


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (None, "hydra.sweeper.storage=None: must be sqlite:///FILE, journal:///FILE or postgresql://"),
        ("mysql://u@h/db", "hydra.sweeper.storage=mysql://u@h/db: must be sqlite:///FILE, journal:///FILE"),
        ("sqlite:///:memory:", "an in-memory database"),
        ("journal://", "names no file"),
    ],
)
def test_a_storage_the_trials_cannot_share_is_refused_in_one_line(url, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        Storage(url)


def test_the_password_stays_out_of_messages_and_postgresql_means_psycopg_3():
    storage = Storage("postgresql://alice:s3cret@db.example:5432/studies")
    assert "s3cret" not in str(storage) and str(storage) == "postgresql://alice:***@db.example:5432/studies"
    assert storage.sqlalchemy_url.startswith("postgresql+psycopg://alice:s3cret@")


def test_an_unreachable_database_is_one_line():
    from tests.helpers.postgres import free_port
    from vaelab.hparams_search.sweeper import OptunaSearch

    url = f"postgresql://postgres@127.0.0.1:{free_port()}/studies"  # no server listens there
    search = OptunaSearch(url, "s", "minimize", 1, 1, 1.0, 60, None, None, None, None)
    with pytest.raises(ValueError) as refused:
        search.open_study()
    assert str(refused.value).startswith(f"hydra.sweeper.storage={url}: cannot open it (connection")
    assert "\n" not in str(refused.value)
