"""optuna-dashboard serves a vaelab study from each of its storages, given the storage as
docs/dashboards.md writes it on optuna-dashboard's command line: its JSON API lists every trial.

The server is optuna-dashboard's own WSGI app (optuna_dashboard.wsgi, what its command line and
run_server serve), here under wsgiref on a free port in a thread: the same storage argument,
without starting a process per storage."""

from __future__ import annotations

import json
import threading
import urllib.request
from wsgiref.simple_server import WSGIRequestHandler, make_server

import optuna
import pytest
from optuna.trial import TrialState

from vaelab.hparams_search.search_space import parse
from vaelab.hparams_search.storages import Storage
from vaelab.hparams_search.workers import claim

# A part of conf/hparams_search/optuna.yaml's search space.
PARAMS = {"objective.beta": "tag(log, interval(0.25, 4.0))", "model.latent_dim": "choice(4, 8, 16, 32)"}
ENDS = [(TrialState.COMPLETE, 231.5), (TrialState.COMPLETE, 228.25), (TrialState.PRUNED, None), (TrialState.FAIL, None)]


def make_study(url: str) -> list[optuna.trial.FrozenTrial]:
    """vaelab_search in `url`, opened as vaelab's sweeper opens it: four trials asked from the
    search space, claimed by this worker, ended as ENDS says."""
    space, _ = parse(PARAMS, [])
    study = optuna.create_study(storage=Storage(url).open(), study_name="vae_search", direction="minimize")
    for state, value in ENDS:
        trial = study.ask(space)
        claim([trial])
        study.tell(trial, value, state=state)
    return study.get_trials()


class Quiet(WSGIRequestHandler):
    def log_message(self, *args) -> None:  # no line per request on stderr
        pass


def get(url: str):
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


@pytest.mark.parametrize("kind", ["sqlite", "journal", "postgresql"])
def test_the_dashboard_lists_every_trial_of_a_vaelab_study(kind, tmp_path, request):
    from optuna_dashboard import wsgi

    # (vaelab's hydra.sweeper.storage, the argument of `optuna-dashboard` in docs/dashboards.md)
    if kind == "sqlite":
        url = argument = f"sqlite:///{tmp_path}/optuna.db"
    elif kind == "journal":
        url, argument = f"journal://{tmp_path}/optuna.log", f"{tmp_path}/optuna.log"
    else:
        url = request.getfixturevalue("postgres_url")
        argument = url.replace("postgresql://", "postgresql+psycopg://")
    trials = make_study(url)

    server = make_server("127.0.0.1", 0, wsgi(argument), handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}/api/studies"
        (summary,) = get(base)["study_summaries"]
        assert summary["study_name"] == "vae_search" and summary["directions"] == ["minimize"]
        served = get(f"{base}/{summary['study_id']}")["trials"]
    finally:
        server.shutdown()
        server.server_close()
    assert [t["number"] for t in served] == [t.number for t in trials] == [0, 1, 2, 3]
    for shown, trial in zip(served, trials):
        assert shown["state"] == trial.state.name.capitalize()
        assert shown.get("values") == (None if trial.value is None else [trial.value])
        assert {p["name"]: p["param_external_value"] for p in shown["params"]} == {
            k: str(v) for k, v in trial.params.items()
        }
        assert {a["key"] for a in shown["user_attrs"]} == {"vaelab_worker", "vaelab_heartbeat"}
