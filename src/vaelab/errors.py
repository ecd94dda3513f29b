"""The one error policy of every vaelab command: bad input ends it with one readable line; a bug
shows its traceback.

vaelab raises its own errors, the `VaelabError` family below, for what the user can fix: a
setting (ConfigError), a refused `_target_` (RefusedTarget), a data file or set (DataError), a
checkpoint (CheckpointError), a file or folder that is not there (MissingFile), a full disk
(DiskFullError), training that stopped being finite (NotFinite), a part that does not fit its
interface, a run directory in use, ... Each message names the setting or file, the bad value and
what is allowed. `report` prints those as `error: <message>` on stderr (exit code 1), and Ctrl-C
or SIGTERM as `interrupted: ...` (exit code 130). Anything else (a ValueError from torch, numpy or
scikit-learn, a KeyError, ...) may be a bug: it keeps its traceback, with a line saying so.
`reported()` (train.py, Hydra resolvers) and `exit_code()` (console scripts) apply it.
HYDRA_FULL_ERROR=1 keeps the traceback of every error, and so does a Hydra multirun, where the
launcher must see the failure to record the job as failed and go on with the others.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class VaelabError(Exception):
    """Something the user can fix, said in one line: the setting or file, the bad value, what is allowed."""


class ConfigError(VaelabError, ValueError):
    """A setting, or a combination of settings, that is not allowed."""


class RefusedTarget(ConfigError):
    """A config names something vaelab will not instantiate (vaelab.config.targets)."""


class DataError(VaelabError, ValueError):
    """A data file or data set that cannot be used as it is."""


class CheckpointError(VaelabError, ValueError):
    """A file that is not a usable vaelab checkpoint, or one this command cannot use."""


class MissingFile(VaelabError, FileNotFoundError):
    """A file or folder the command needs is not there (or is not a file)."""


class NotAFolder(VaelabError, NotADirectoryError):
    """A path that must be a folder is a file, or cannot be made one."""


class DiskFullError(VaelabError, OSError):
    """A write failed for lack of space; the message names the file (see vaelab.runs.io)."""


class NotFinite(VaelabError, FloatingPointError):
    """Training stopped being finite (a loss, a gradient, a weight): named with its step."""


USER_ERRORS = (VaelabError,)
BUG = (
    "vaelab: an error vaelab did not expect, so a bug in vaelab or in a part plugged into it: "
    "please report it with the traceback below"
)


def root_cause(err: BaseException) -> BaseException:
    """Hydra's instantiate and OmegaConf's resolvers wrap errors; the user needs the original."""
    while True:
        name = type(err).__name__
        if name == "InstantiationException" and err.__cause__ is not None:
            err = err.__cause__
        elif name == "InterpolationResolutionError" and err.__context__ is not None:
            err = err.__context__  # OmegaConf re-raises a resolver's error inside its except block
        else:
            return err


def _in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def report(err: BaseException) -> int | None:
    """The one error policy of every vaelab command: a user error or an interruption is printed as
    one line and gives the exit code (1, or 130 for Ctrl-C); anything else gives None, to be
    re-raised with its traceback (as is everything under HYDRA_FULL_ERROR=1 or in a Hydra
    multirun, whose launcher must see the failure to record the job as failed)."""
    cause = root_cause(err)
    if os.environ.get("HYDRA_FULL_ERROR") == "1" or _in_multirun():
        return None
    if isinstance(cause, KeyboardInterrupt):
        print("interrupted: run the same command again with ckpt_path=last to resume", file=sys.stderr)
        return 130
    if isinstance(cause, USER_ERRORS):
        print(f"error: {cause}", file=sys.stderr)
        return 1
    if type(cause).__module__.startswith("omegaconf"):
        # A config that does not resolve (a missing key, a broken interpolation): OmegaConf's
        # message, first line, and the key it was resolving.
        key = getattr(cause, "full_key", None)
        print(f"error: {key + ': ' if key else ''}{str(cause).splitlines()[0]}", file=sys.stderr)
        return 1
    print(BUG, file=sys.stderr)
    return None


@contextmanager
def reported() -> Iterator[None]:
    """Run a command's body under `report`: a user error ends the process with one line."""
    try:
        yield
    except (Exception, KeyboardInterrupt) as err:
        code = report(err)
        if code is None:
            raise
        raise SystemExit(code) from None


def exit_code(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> int:
    """fn(*args, **kwargs) as a console script's body: 0, or the exit code `report` gave its error."""
    try:
        fn(*args, **kwargs)
    except (Exception, KeyboardInterrupt) as err:
        code = report(err)
        if code is None:
            raise
        return code
    return 0
