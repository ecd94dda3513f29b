"""A Weights & Biases logger that never prompts, hangs or fails for want of an account or network.

mode=null picks "online" only when credentials exist and the W&B host answers within a
few seconds, else "offline": the run is recorded on disk in <run dir>/wandb/ and can be
uploaded later with `wandb sync`. WANDB_MODE in the environment wins over both.
"""

from __future__ import annotations

import logging
import netrc
import os
import socket
import threading
from urllib.parse import urlparse

from vaelab.errors import ConfigError
from vaelab.logger.sweep import sweep_context

log = logging.getLogger(__name__)

MODES = ("online", "offline", "disabled")


def has_credentials(host: str) -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc(os.environ.get("NETRC")).authenticators(host) is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def reachable(host: str, port: int = 443, timeout: float = 3.0) -> bool:
    """True if a TCP connection opens within `timeout` (DNS included, hence the thread)."""
    ok = threading.Event()

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            ok.set()
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return ok.is_set()


def choose_mode(mode: str | None) -> str:
    mode = os.environ.get("WANDB_MODE") or mode
    if mode is not None:
        if mode not in MODES:
            raise ConfigError(f"logger.wandb.mode must be one of {', '.join(MODES)} or null, got {mode!r}")
        return mode
    url = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai"))
    host = url.hostname or "api.wandb.ai"
    if not has_credentials(host):
        log.info("W&B: no credentials found, logging offline (upload later with `wandb sync`)")
        return "offline"
    if not reachable(host, url.port or (80 if url.scheme == "http" else 443)):
        log.info("W&B: %s is not reachable, logging offline (upload later with `wandb sync`)", host)
        return "offline"
    return "online"


def run_id(save_dir: str) -> str:
    """The W&B run id of this run directory: made once, kept in wandb_run_id.txt, so that a run
    resumed in the same directory (ckpt_path=last, or a SLURM job run again after a requeue or
    preemption, which vaelab.runs.rundir sends back to its directory) continues the same W&B run.
    Under a `wandb agent` the agent's id (WANDB_RUN_ID) is the one to use."""
    path = os.path.join(save_dir, "wandb_run_id.txt")
    if os.path.isfile(path):
        return open(path).read().strip()
    import secrets

    new = os.environ.get("WANDB_RUN_ID") or secrets.token_hex(4)
    with open(path, "w") as f:
        f.write(new + "\n")
    return new


def wandb_logger(
    save_dir: str,
    mode: str | None = None,
    id: str | None = None,
    name: str | None = None,
    group: str | None = None,
    tags=(),
    **kwargs,
):
    """Lightning's WandbLogger with vaelab's metric definitions and checkpoint artifacts
    (vaelab.logger.wandb_run); in a sweep, the group is the sweep and the name its job's swept
    overrides (vaelab.logger.sweep)."""
    from vaelab.logger.wandb_run import VaelabWandbLogger

    os.makedirs(save_dir, exist_ok=True)
    sweep_group, override_tags, sweep_name = sweep_context(name)
    return VaelabWandbLogger(
        save_dir=save_dir,
        mode=choose_mode(mode),
        id=id or run_id(save_dir),
        resume="allow",
        name=sweep_name,
        group=group or sweep_group,
        tags=list(dict.fromkeys([*tags, *override_tags])),
        **kwargs,
    )
