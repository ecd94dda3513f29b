"""optuna-dashboard serves a vaelab study from each of its storages, given the storage as
docs/dashboards.md writes it on optuna-dashboard's command line: its JSON API lists every trial,
and its page, in headless Chromium, shows them (the screenshot is docs/dashboards/optuna_trials.png).

The server is optuna-dashboard's own WSGI app (optuna_dashboard.wsgi, what its command line and
run_server serve), here under wsgiref on a free port in a thread: the same storage argument,
without starting a process per storage."""

from __future__ import annotations

import json
import os
import re
import threading
import urllib.request
from contextlib import contextmanager
from wsgiref.simple_server import WSGIRequestHandler, make_server

import optuna
import pytest
from optuna.trial import TrialState

from tests.conftest import ROOT
from tests.helpers.browser import chromium, page
from vaelab.hparams_search.search_space import parse
from vaelab.hparams_search.storages import Storage
from vaelab.hparams_search.workers import claim

# A part of conf/hparams_search/optuna.yaml's search space.
PARAMS = {"objective.beta": "tag(log, interval(0.25, 4.0))", "model.latent_dim": "choice(4, 8, 16, 32)"}
# As tests/logger/test_mlflow.py's picture: VAELAB_SCREENSHOTS=1 writes it into docs/dashboards.
SCREENSHOT = ROOT / "docs" / "dashboards" / "optuna_trials.png"
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


@contextmanager
def served(argument: str):
    """optuna-dashboard's app for `argument` on a free local port, in a thread: its base URL."""
    from optuna_dashboard import wsgi

    server = make_server("127.0.0.1", 0, wsgi(argument), handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("kind", ["sqlite", "journal", "postgresql"])
def test_the_dashboard_lists_every_trial_of_a_vaelab_study(kind, tmp_path, request):
    # (vaelab's hydra.sweeper.storage, the argument of `optuna-dashboard` in docs/dashboards.md)
    if kind == "sqlite":
        url = argument = f"sqlite:///{tmp_path}/optuna.db"
    elif kind == "journal":
        url, argument = f"journal://{tmp_path}/optuna.log", f"{tmp_path}/optuna.log"
    else:
        url = request.getfixturevalue("postgres_url")
        argument = url.replace("postgresql://", "postgresql+psycopg://")
    trials = make_study(url)

    with served(argument) as base:
        (summary,) = get(f"{base}/api/studies")["study_summaries"]
        assert summary["study_name"] == "vae_search" and summary["directions"] == ["minimize"]
        served_trials = get(f"{base}/api/studies/{summary['study_id']}")["trials"]
    assert [t["number"] for t in served_trials] == [t.number for t in trials] == [0, 1, 2, 3]
    for shown, trial in zip(served_trials, trials):
        assert shown["state"] == trial.state.name.capitalize()
        assert shown.get("values") == (None if trial.value is None else [trial.value])
        assert {p["name"]: p["param_external_value"] for p in shown["params"]} == {
            k: str(v) for k, v in trial.params.items()
        }
        assert {a["key"] for a in shown["user_attrs"]} == {"vaelab_worker", "vaelab_heartbeat"}


@pytest.mark.slow
def test_the_dashboards_page_shows_every_trial_and_its_state(tmp_path):
    if chromium() is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    url = f"sqlite:///{tmp_path}/optuna.db"
    trials = make_study(url)
    with served(url) as base, page(1400, 900) as browser:
        (summary,) = get(f"{base}/api/studies")["study_summaries"]
        browser.goto(f"{base}/dashboard/studies/{summary['study_id']}/trials")
        browser.get_by_text("4 Trials").wait_for(timeout=90_000)
        listed = browser.locator("ul li", has_text=re.compile(r"^Trial \d+"))  # the list at the left
        assert [item.inner_text().split("\n")[:2] for item in listed.all()] == [
            [f"Trial {t.number}", t.state.name.capitalize()] for t in trials
        ]
        # The first trial is open: its parameters, as vaelab's search space sampled them.
        for name, value in trials[0].params.items():
            assert browser.get_by_text(f"{name} {value}", exact=True).is_visible(), name
        shot = SCREENSHOT if os.environ.get("VAELAB_SCREENSHOTS") == "1" else tmp_path / SCREENSHOT.name
        browser.screenshot(path=shot)
    assert shot.stat().st_size > 20_000
