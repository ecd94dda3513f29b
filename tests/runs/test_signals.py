"""vaelab.runs.signals: a SIGTERM (timeout, kill, SLURM's time limit) ends a run as terminated,
and the same command with ckpt_path=last continues it. Real signals: to this process outside
Lightning's loops here; to a real train.py while it trains in tests/runs/test_lock.py (then two
processes resume it)."""

from __future__ import annotations

import os
import signal

import pytest

from vaelab.runs import signals


def test_outside_lightnings_loops_sigterm_raises_terminated_at_once():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(signals.Terminated) as stopped, signals.sigterm_terminates():
        os.kill(os.getpid(), signal.SIGTERM)
    assert stopped.value.signal == "SIGTERM" and isinstance(stopped.value, KeyboardInterrupt)
    assert signal.getsignal(signal.SIGTERM) is before
