"""history.jsonl in the run directory: the validation metrics after every validation.

W&B keeps curves too, but in its own binary files; this plain record lets
`vaelab-compare` draw the curves of many runs offline from the run directories alone.
"""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
from lightning.pytorch.utilities import rank_zero_only

from vaelab.runs.io import append_line, write_text


class MetricsHistory(L.Callback):
    def __init__(self, path: str, prefix: str = "val/"):
        self.path, self.prefix = Path(path), prefix
        self._first = True

    @rank_zero_only
    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        row = {"epoch": trainer.current_epoch, "step": trainer.global_step}
        row |= {
            k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith(self.prefix) and v.numel() == 1
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._first:
            self._drop_rows_from(row["step"])
            self._first = False
        append_line(self.path, json.dumps(row))

    def _drop_rows_from(self, step: int) -> None:
        """A resumed run recomputes everything after its checkpoint: the interrupted attempt's rows
        from this step on (and a line it left cut short) go, so no epoch is recorded twice."""
        if not self.path.is_file():
            return
        lines = self.path.read_text().splitlines()
        kept = [line for line in lines if _step(line) < step]
        if len(kept) < len(lines):
            write_text(self.path, "".join(line + "\n" for line in kept))


def _step(line: str) -> float:
    try:
        return json.loads(line)["step"]
    except (ValueError, KeyError, TypeError):
        return float("inf")
