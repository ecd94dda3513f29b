"""Run directories written by hand, in the layout a run leaves (README, "What a run leaves"), for
the tests of vaelab-compare: `.hydra/overrides.yaml`, `metrics.json`, `status.json`, `history.jsonl`."""

from __future__ import annotations

import json
from pathlib import Path


def write_run(run: Path, overrides, metrics=None, status=None, history=None) -> Path:
    """A run directory; a str is written as the file's raw text (to break it), anything else as JSON/YAML."""
    (run / ".hydra").mkdir(parents=True)
    if isinstance(overrides, str):
        (run / ".hydra" / "overrides.yaml").write_text(overrides)
    else:
        (run / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides) or "[]\n")
    for name, content in (("metrics.json", metrics), ("status.json", status)):
        if content is not None:
            (run / name).write_text(content if isinstance(content, str) else json.dumps(content))
    if history is not None:
        text = history if isinstance(history, str) else "".join(json.dumps(row) + "\n" for row in history)
        (run / "history.jsonl").write_text(text)
    return run
