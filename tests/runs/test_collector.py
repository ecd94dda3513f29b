"""vaelab.runs.collector: the garbage collector paused for a start, told to skip what it built,
and the process left as it was found; and train.py's main() uses it before its first step."""

from __future__ import annotations

import gc
import weakref

import pytest
from lightning.pytorch import Callback

from tests.conftest import TINY
from tests.helpers.train_cli import cli_here
from vaelab.runs import collector


class Cycle:
    def __init__(self):
        self.me = self


def test_paused_until_started_then_the_starts_garbage_is_freed_and_the_rest_frozen():
    assert gc.isenabled() and gc.get_freeze_count() == 0
    with collector.paused():
        assert not gc.isenabled()
        imports = Cycle()  # garbage the imports left: frozen with them, not collected
        imports_gone = weakref.ref(imports)
        del imports
        collector.imported()
        frozen_by_imports = gc.get_freeze_count()
        assert frozen_by_imports > 0 and not gc.isenabled()
        garbage = Cycle()
        gone = weakref.ref(garbage)
        del garbage  # a reference cycle: only the collector frees it
        assert gone() is not None
        collector.started()
        assert gone() is None and gc.isenabled() and gc.get_freeze_count() > frozen_by_imports
        assert imports_gone() is not None  # held, frozen, for the task
        collector.started()  # a second call does nothing
    assert gc.isenabled() and gc.get_freeze_count() == 0  # the run's objects are the collector's again
    gc.collect()
    assert imports_gone() is None  # ... and freed once the task is over


def test_an_error_before_the_start_leaves_the_collector_on_and_started_outside_does_nothing():
    with pytest.raises(ValueError), collector.paused():
        raise ValueError("a refused setting")
    assert gc.isenabled() and gc.get_freeze_count() == 0
    collector.imported()  # vaelab as a library: nothing happens
    collector.started()
    assert gc.isenabled() and gc.get_freeze_count() == 0
    gc.disable()  # a caller that had it off keeps it off
    try:
        with collector.paused():
            collector.started()
            assert not gc.isenabled() and gc.get_freeze_count() == 0
        assert not gc.isenabled()
    finally:
        gc.enable()


class Probe(Callback):
    """What the collector was doing at the first training step."""

    seen: list[tuple[bool, int]] = []

    def on_train_start(self, trainer, pl_module) -> None:
        Probe.seen.append((gc.isenabled(), gc.get_freeze_count()))


def test_train_py_runs_its_steps_with_the_start_frozen_and_leaves_the_process_as_it_was(tmp_path, monkeypatch):
    Probe.seen.clear()
    probe = f"+callbacks.probe._target_={__name__}.Probe"
    assert cli_here(tmp_path, monkeypatch, *TINY, "data=digits", probe) == 0
    ((enabled, frozen),) = Probe.seen
    assert enabled and frozen > 100_000  # torch, Lightning, Hydra and the run's own objects
    assert gc.isenabled() and gc.get_freeze_count() == 0
