"""vaelab.runs.signals: a SIGTERM (timeout, kill, SLURM's time limit) ends a run as terminated,
and the same command with ckpt_path=last continues it. Real signals: to this process outside
Lightning's loops, to a real train.py while it trains."""

from __future__ import annotations

import json
import os
import signal

import pytest
import torch

from tests.test_reliability import cli, start, wait_for_checkpoint
from vaelab.runs import lock, signals


def test_outside_lightnings_loops_sigterm_raises_terminated_at_once():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(signals.Terminated) as stopped, signals.sigterm_terminates():
        os.kill(os.getpid(), signal.SIGTERM)
    assert stopped.value.signal == "SIGTERM" and isinstance(stopped.value, KeyboardInterrupt)
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.slow
def test_sigterm_while_training_is_recorded_as_terminated_and_the_same_command_resumes(tmp_path):
    args = [
        "data=digits",
        "logger=none",
        "trainer.max_epochs=3",
        "trainer.limit_train_batches=20",
        "trainer.limit_val_batches=2",
        "trainer.limit_test_batches=2",
        "eval.num_samples=2",
        "model.latent_dim=4",
        "callbacks.step_checkpoint.every_n_train_steps=5",
        "++callbacks.rich_progress_bar=null",
    ]
    proc = start(tmp_path, *args)
    wait_for_checkpoint(tmp_path, proc)
    proc.send_signal(signal.SIGTERM)  # as `timeout` and `kill` send it
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err[-2000:]
    (run,) = tmp_path.glob("logs/train/runs/*")
    assert json.loads((run / "status.json").read_text()) == {"state": "terminated", "signal": "SIGTERM"}
    assert not (run / lock.LOCK_FILE).exists() and not (run / "metrics.json").exists()
    last = run / "checkpoints" / "last.ckpt"
    assert 0 < torch.load(last, weights_only=True)["global_step"] < 3 * 20

    resumed = cli(tmp_path, *args, "ckpt_path=last")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads((run / "status.json").read_text()) == {"state": "finished"}
    (resume,) = json.loads((run / "provenance.json").read_text())["resumes"]
    assert resume["resumed_from"] == str(last)
    rows = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1, 2]
    assert torch.load(last, weights_only=True)["global_step"] == 3 * 20
