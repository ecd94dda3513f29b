"""`trainer.steps_per_execution`: several optimiser steps per Lightning step.

Lightning's loop costs about 0.45 ms a batch on a CPU core, whatever the model (its hooks, the
optimiser closure, progress tracking: docs/performance.md, "Cost per step"). A small model's step
on a GPU is shorter than that, so the loop, not the model, sets the pace. With K steps per
Lightning step (Keras' `steps_per_execution`), the loader hands over K batches at once and the
system takes K optimiser steps on them (vaelab.system.VAESystem._execute), so that cost is paid
once per K steps.

What stays as with K = 1, to the bit on the CPU (tests/runs/test_executions.py): the batches and
their binarisation (each batch keeps its own generator), the order of random draws, the updates,
the KL schedule, `max_steps`, the loss check of every step, the checkpoints (taken between hand-outs,
so every N steps when K divides N) and an exact resume, and what the loggers record at which step
(the system sends its train values itself every `log_every_n_steps` optimiser steps, and labels
validation's and test's with Lightning's documented "step" override). What changes: Lightning's
own counts are of hand-outs, which need not divide an epoch, so an integer `val_check_interval`
is refused (vaelab.config.schema, one line before any work: a fraction of an epoch works), and so
is any `limit_train_batches` but 1.0, as hand-outs line up with whole epochs; every epoch has as
many hand-outs (vaelab.data.loader), and the progress bar shows optimiser steps (drawn every N
hand-outs).

Not with K > 1 (refused by the schema): an adversarial objective (FactorVAE steps two optimisers
itself), gradient clipping and gradient accumulation (Lightning has neither under manual
optimisation), and a learning-rate scheduler (Lightning steps none under manual optimisation).
"""

from __future__ import annotations

from typing import Any

from vaelab.errors import ConfigError


def configure(system: Any, datamodule: Any, steps: int) -> None:
    """Have `datamodule` hand out `steps` batches at a time and `system` step on each."""
    if steps == 1:
        return
    for part, attribute in ((system, "steps_per_execution"), (datamodule, "steps_per_execution")):
        if not hasattr(part, attribute):
            raise ConfigError(
                f"trainer.steps_per_execution={steps}: {type(part).__module__}.{type(part).__qualname__} has no "
                f"{attribute} (vaelab's systems and in-memory data modules have): set trainer.steps_per_execution=1"
            )
    system.steps_per_execution, system.slice_size = steps, datamodule.batch_size
    # Manual optimisation: the system's training step takes its K steps itself.
    system.automatic_optimization = False
    datamodule.steps_per_execution = steps
