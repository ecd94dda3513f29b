"""A command imports what it uses, when it uses it (each case in a fresh process).

`import vaelab` and every console script's `--help` load no torch, Lightning, W&B, matplotlib,
scikit-learn, Optuna or metrics package; the modules of a training run load W&B, scikit-learn,
Optuna (and pandas, SQLAlchemy, submitit, TensorBoard) only when a run asks for them. Lightning
itself brings torch and torchmetrics, and torchmetrics brings torchvision, scipy and matplotlib
whenever they are installed: those come with any training process (docs/performance.md).
"""

from __future__ import annotations

import json
import subprocess
import sys

# Seconds each to import (2 cores); none is needed to compose a config or print help.
HEAVY = ["torch", "lightning", "torchmetrics", "torchvision", "wandb", "matplotlib", "sklearn", "optuna", "scipy"]
# Loaded when a run uses them: logger=wandb, data=digits or a disentanglement score, a sweep.
ON_DEMAND = ["wandb", "sklearn", "optuna", "pandas", "sqlalchemy", "submitit", "tensorboard"]

HELP = """
import contextlib, io, sys
from vaelab.cli import evaluate, sample, train
from vaelab.compare import cli as compare

for name, main in (("train", train.main), ("eval", evaluate.main), ("sample", sample.main), ("compare", compare.main)):
    sys.argv = [name, "--help"]
    with contextlib.redirect_stdout(io.StringIO()) as out:
        try:
            code = main()
        except SystemExit as done:  # argparse's --help
            code = done.code
    assert code == 0 and "help" in out.getvalue().lower(), (name, code, out.getvalue()[-500:])
"""

TRAINING = """
import vaelab.callbacks, vaelab.data, vaelab.kl_schedules, vaelab.likelihood, vaelab.logger, vaelab.lr_schedulers
import vaelab.metrics, vaelab.model, vaelab.objectives, vaelab.plugins, vaelab.priors, vaelab.samplers
import vaelab.runs.checkpoint, vaelab.runs.train, vaelab.system
"""


def loaded(code: str, watched: list[str]) -> list[str]:
    """Which of `watched` are in sys.modules after `code` ran in a fresh process."""
    code += f"\nimport json, sys\nprint(json.dumps(sorted(set({watched!r}) & set(sys.modules))))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_vaelab_loads_nothing_heavy():
    assert loaded("import vaelab", [*HEAVY, "hydra", "pydantic"]) == []


def test_every_console_scripts_help_loads_nothing_heavy():
    assert loaded(HELP, HEAVY) == []


def test_the_training_modules_leave_what_a_run_may_not_use_unloaded():
    assert loaded(TRAINING, ON_DEMAND) == []
