"""A checkpoint's format, and every older format migrated to today's, in one place.

- format 0, vaelab 0.1.0: `model._target_: vaelab.model.VAE` with beta and kl_warmup_steps on
  it, the weights at the top level. Migrated for evaluating and sampling; not resumable.
- format 1 (no `format` key): the system (`vaelab.system.VAESystem`) around the model, whose
  weights sit under `model.`.
- format 2: the same, the model named the vae: weights under `vae.`.

`migrate` is called wherever a checkpoint is read: vaelab.runs.checkpoint.read_checkpoint (eval,
sample, the checks before a resume) and VAESystem.on_load_checkpoint (Lightning's own resume).
"""

from __future__ import annotations

from typing import Any

FORMAT = 2


def format_of(checkpoint: dict[str, Any]) -> int:
    info = checkpoint.get("vaelab") or {}
    model = (info.get("config") or {}).get("model")
    if isinstance(model, dict) and model.get("_target_") == "vaelab.model.VAE":
        return 0
    found = info.get("format", 1)
    return found if isinstance(found, int) else 1


def migrate(checkpoint: dict[str, Any]) -> None:
    """Bring `checkpoint` (as torch.load gave it) to FORMAT, in place; a no-op when it is there."""
    version = format_of(checkpoint)
    if version == 0:
        _from_0(checkpoint)
    if version <= 1:
        # The system's VAE is its `vae` attribute since format 2 (it was `model`).
        checkpoint["state_dict"] = {_renamed(k): v for k, v in checkpoint["state_dict"].items()}
    if isinstance(checkpoint.get("vaelab"), dict):
        checkpoint["vaelab"]["format"] = FORMAT


def _renamed(key: str) -> str:
    return f"vae.{key.removeprefix('model.')}" if key.startswith("model.") else key


def _from_0(checkpoint: dict[str, Any]) -> None:
    """vaelab 0.1.0's layout in format 1's: the system around the model, the ELBO objective with
    its beta, a linear KL schedule, the N(0, I) prior; the weights under `model.`."""
    config = checkpoint["vaelab"]["config"]
    model = config["model"]
    beta, warmup = model.pop("beta", 1.0), model.pop("kl_warmup_steps", 0)
    config["prior"] = {"_target_": "vaelab.priors.StandardNormal", "latent_dim": "${model.latent_dim}"}
    config["objective"] = {"_target_": "vaelab.objectives.ELBO", "beta": beta, "free_bits": 0.0}
    config["kl_schedule"] = (
        {"_target_": "vaelab.kl_schedules.Linear", "steps": warmup}
        if warmup
        else {"_target_": "vaelab.kl_schedules.Constant"}
    )
    model.update(
        {"_target_": "vaelab.system.VAESystem", "prior": "${prior}", "objective": "${objective}"}
        | {"kl_schedule": "${kl_schedule}"}
    )
    checkpoint["state_dict"] = {f"model.{k}": v for k, v in checkpoint["state_dict"].items()}
    checkpoint["vaelab"]["migrated_from"] = "vaelab 0.1.0 (before the model/system split)"
