"""README's runnable blocks (marked `<!-- runnable -->`), run for real as a user would paste them."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT
from tests.docs.test_extending import BLOCK, MARK

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


def test_the_python_example_trains(tmp_path):
    blocks = runnable(README.read_text())
    assert [language for language, _ in blocks] == ["python"]  # the 15-line example
    ((_, code),) = blocks
    script = tmp_path / "example.py"
    # As pasted, and then one look at what it trained: the ELBO on the validation split is finite.
    script.write_text(
        code + "\nimport math\nassert math.isfinite(float(system.trainer.callback_metrics['val/elbo']))\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
