"""A run must train and must end: refuse, before any work, lengths that do nothing or never stop.

Lightning takes `trainer.max_epochs=0` (and `trainer.max_steps=0`) as "already done": the run
exits 0, status finished, with an empty metrics.json. It takes `trainer.max_epochs=-1` as "no
epoch limit": without another stopping rule the run trains until killed. So -1 means "until a
stopping rule ends it" and is accepted only with one: trainer.max_steps > 0, trainer.max_time,
or an EarlyStopping callback.
"""

from __future__ import annotations

from typing import Any

from vaelab.errors import ConfigError


def _early_stopping(callbacks: dict[str, Any] | None) -> bool:
    return any(
        isinstance(c, dict) and str(c.get("_target_", "")).endswith("EarlyStopping") for c in (callbacks or {}).values()
    )


def check_stopping(tree: dict[str, Any]) -> None:
    """Raise ValueError, one line, unless the resolved run config `tree` trains and stops."""
    trainer = tree["trainer"]
    if trainer.get("fast_dev_run"):
        return  # a fixed number of batches, whatever the limits say
    max_epochs, max_steps = trainer.get("max_epochs"), trainer.get("max_steps", -1)
    rules = "trainer.max_steps=N, trainer.max_time=DD:HH:MM:SS or callbacks=early_stopping"
    if max_steps == 0:
        raise ConfigError("trainer.max_steps=0: trains nothing; must be -1 (no step limit) or >= 1")
    if max_epochs == 0:
        raise ConfigError(f"trainer.max_epochs=0: trains nothing; must be >= 1, or -1 (until {rules} stops it)")
    has_rule = (max_steps or -1) > 0 or trainer.get("max_time") is not None or _early_stopping(tree.get("callbacks"))
    if max_epochs == -1 and not has_rule:
        raise ConfigError(
            f"trainer.max_epochs=-1: trains until a stopping rule ends it, and none is set; set {rules}, "
            "or trainer.max_epochs >= 1"
        )
