"""README's runnable blocks (marked `<!-- runnable -->`), run for real as a user would paste them."""

from __future__ import annotations

import math

from tests.conftest import ROOT
from tests.docs.test_extending import BLOCK, MARK
from tests.helpers.scripts import run_script

README = ROOT / "README.md"


def runnable(text: str) -> list[tuple[str, str]]:
    """(language, code) of every fenced block preceded by `<!-- runnable -->`."""
    found = []
    for match in BLOCK.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        mark = MARK.fullmatch(before)
        if mark and mark[1] == "runnable":
            found.append((match[1], match[2]))
    return found


def test_the_python_example_trains(tmp_path, monkeypatch):
    blocks = runnable(README.read_text())
    assert [language for language, _ in blocks] == ["python"]  # the 15-line example
    ((_, code),) = blocks
    script = tmp_path / "example.py"
    script.write_text(code)  # as pasted, run as `python example.py` would run it
    system = run_script(script, monkeypatch)["system"]
    # One look at what it trained: the ELBO on the validation split is finite.
    assert math.isfinite(float(system.trainer.callback_metrics["val/elbo"]))
