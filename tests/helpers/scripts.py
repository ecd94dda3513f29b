"""A Python script of the docs, run as `python path` would run it, in the test process: what it
does needs no process of its own, and a process costs seconds of imports."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path


def run_script(path: Path, monkeypatch) -> dict:
    """Run `path` as __main__ in its folder, that folder first on sys.path and W&B offline; the
    modules it imported from its folder are forgotten afterwards. Its globals."""
    before = set(sys.modules)
    with monkeypatch.context() as m:
        m.chdir(path.parent)
        m.syspath_prepend(str(path.parent))
        m.setenv("WANDB_MODE", "offline")
        namespace = runpy.run_path(str(path), run_name="__main__")
    for name in set(sys.modules) - before:
        if str(path.parent) in str(getattr(sys.modules[name], "__file__", None) or ""):
            del sys.modules[name]
    return namespace
