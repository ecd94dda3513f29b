"""SIGTERM ends a run as `terminated`, resumable, not as a failure with no reason.

`timeout`, `kill`, SLURM at a time limit and `scontrol requeue` send SIGTERM. While Lightning
fits or tests, its own handler (trainer/connectors/signal_connector.py) notes the signal
(`trainer.received_sigterm`) and stops at the end of the current batch by raising
SIGTERMException, a SystemExit: the last checkpoint that ModelCheckpoint wrote between steps
stays whole (vaelab.runs.io writes atomically) and `ckpt_path=last` continues from it. Lightning
calls the SIGTERM handler that was installed before its own too: the one installed here, which
then only notes the signal. Outside Lightning's loops (the checks, loading the data, between
fitting and testing) it raises `Terminated` at once.

`Terminated` is a KeyboardInterrupt, so that whatever stops cleanly on Ctrl-C stops so on it:
Lightning's loops, the Optuna sweeper, and the one-line report (vaelab.errors: exit code 130,
"run the same command again with ckpt_path=last to resume"). status.json tells the two apart.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


class Terminated(KeyboardInterrupt):
    """The run was stopped by a signal (its name is `signal`); `ckpt_path=last` resumes it."""

    def __init__(self, name: str) -> None:
        super().__init__(f"stopped by {name}")
        self.signal = name


_received: str | None = None


def _on_sigterm(signum: int, frame) -> None:
    global _received
    _received = signal.Signals(signum).name
    # Lightning's handler, in place while it fits or tests, calls this one after its own: it
    # stops at the end of the batch, and `raise_if_received` turns its SystemExit into Terminated.
    if signal.getsignal(signal.SIGTERM) is _on_sigterm:
        raise Terminated(_received)


def raise_if_received() -> None:
    """Raise Terminated if a SIGTERM came while the run's handler was installed."""
    if _received is not None:
        raise Terminated(_received)


@contextlib.contextmanager
def sigterm_terminates() -> Iterator[None]:
    """While the block runs, SIGTERM raises Terminated (see the module docstring). Signal handlers
    can only be set from the main thread: elsewhere (a launcher's worker thread) nothing changes."""
    global _received
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _received = None
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        # None: a handler not set from Python, which cannot be put back; the default then.
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
