"""Python's cyclic garbage collector during a run's start: paused, then told to skip what the
start built.

Starting a run imports torch, Lightning, torchmetrics, Hydra and W&B and builds the config, the
data module, the model and the trainer: about half a million Python objects that live as long as
the run. CPython 3.11 walks every one of them in each full collection, and a start triggers about
eight, 1-2 s of a 7-9 s start on a 2-core machine (docs/performance.md, "Start time"). So an entry
point's task runs inside `paused()`. `imported()`, once the imports are done, moves what they
built into the permanent generation (`gc.freeze`, meant for this: objects that stay) without a
collection: a collection there walks the imports' 760,000 objects for 0.5 s to free about 13,000
(8 MB here, functions, cells and frames of module code that ran once), which are held instead.
`started()`, just before the first step, collects once, now over what was built after the
imports only (the config, data, model and trainer), freezes what survives and turns the
collector back on: the run's own collections then walk only what the run makes. At the task's
end the frozen objects return to the collector (`gc.unfreeze`), so the imports' garbage, and the
trainer and model of a finished job in a multirun, are freed as usual.

Outside an entry point (vaelab as a library, a notebook), `started()` does nothing.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_state = {"paused": False, "frozen": False}


@contextmanager
def paused() -> Iterator[None]:
    """The collector off until `started()` (or the end of the block), as the block found it after."""
    was_enabled = gc.isenabled()
    gc.disable()
    _state.update(paused=was_enabled, frozen=False)
    try:
        yield
    finally:
        if _state["frozen"]:
            gc.unfreeze()
        _state.update(paused=False, frozen=False)
        if was_enabled:
            gc.enable()


def imported() -> None:
    """The start's imports are done: set aside what they built, garbage included, uncollected."""
    if not _state["paused"]:
        return
    gc.freeze()
    _state["frozen"] = True


def started() -> None:
    """The start is over: free its garbage, set aside what it built, collect as usual from here."""
    if not _state["paused"]:
        return
    gc.collect()
    gc.freeze()
    _state.update(paused=False, frozen=True)
    gc.enable()
