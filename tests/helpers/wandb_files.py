"""What an offline W&B run recorded, read from its files with W&B's own `wandb leet inspect`
(no network): the records of the .wandb file, and the config and summary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def wandb_record(run_dir: Path) -> dict:
    """{"records": the run's records as JSON lines, "config": ..., "summary": ..., ...} of the one
    offline run in run_dir/wandb."""
    (offline,) = (run_dir / "wandb").glob("offline-run-*")
    wandb = Path(sys.executable).parent / "wandb"
    out = subprocess.run([wandb, "leet", "inspect", "--json", offline], capture_output=True, text=True, timeout=120)
    summary = subprocess.run(
        [wandb, "leet", "inspect", "--summary", "--json", offline], capture_output=True, text=True, timeout=120
    )
    return {"records": out.stdout, **json.loads(summary.stdout)}


def records(record: dict, kind: str) -> list[dict]:
    """The records of one type ("run", "metric", "artifact", ...) of a wandb_record."""
    found = [json.loads(line) for line in record["records"].splitlines() if line.strip()]
    return [r[kind] for r in found if r.get("type") == kind]
