"""Bad input ends a run with one readable line, not a traceback.

Every check in vaelab raises ValueError, FileNotFoundError or NotADirectoryError with a
message that names the setting or file, the bad value and what is allowed; a loss or
gradient that stops being finite raises FloatingPointError. `reported()` turns those
into `error: <message>` on stderr and exit code 1. HYDRA_FULL_ERROR=1 keeps the traceback,
and so does a Hydra multirun, where the launcher must see the failure to record the job
as failed and go on with the others.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

USER_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, FloatingPointError)


def root_cause(err: BaseException) -> BaseException:
    """Hydra's instantiate wraps errors (InstantiationException); the user needs the original."""
    while type(err).__name__ == "InstantiationException" and err.__cause__ is not None:
        err = err.__cause__
    return err


def _in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


@contextmanager
def reported() -> Iterator[None]:
    try:
        yield
    except Exception as err:
        cause = root_cause(err)
        if not isinstance(cause, USER_ERRORS) or os.environ.get("HYDRA_FULL_ERROR") == "1" or _in_multirun():
            raise
        print(f"error: {cause}", file=sys.stderr)
        raise SystemExit(1) from None
