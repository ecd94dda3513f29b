"""history.jsonl in the run directory: the validation metrics after every validation.

W&B keeps curves too, but in its own binary files; this plain record lets
`vaelab-compare` draw the curves of many runs offline from the run directories alone.
"""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
from lightning.pytorch.utilities import rank_zero_only


class MetricsHistory(L.Callback):
    def __init__(self, path: str, prefix: str = "val/"):
        self.path, self.prefix = Path(path), prefix

    @rank_zero_only
    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        row = {"epoch": trainer.current_epoch, "step": trainer.global_step}
        row |= {
            k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith(self.prefix) and v.numel() == 1
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")
