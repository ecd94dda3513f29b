"""Will the model fit in memory? Its parameter count, from the model built on the meta device.

A setting such as model.latent_dim=100000000 makes torch try to allocate hundreds of GB while
building the first layer, and fail in a message about the allocator (or, with overcommitted
memory, spend minutes initialising weights before the kernel kills it). `too_big(tree)` builds the
model its settings describe on torch's meta device, which gives every tensor its shape and no
memory, counts the parameters, and says in one line when they with their gradients and Adam's two
moments would exceed this machine's memory (or the GPU's, when training on one). That counts any
model exactly: vaelab's, the hierarchical ones and a researcher's own. A model that cannot be
built on the meta device (a constructor that reads a tensor's values) is not estimated: its real
build says what is wrong.
"""

from __future__ import annotations

import os
from typing import Any

#: float32 weights, their gradients and Adam's first and second moments.
BYTES_PER_PARAMETER = 4 * 4

# The settings that size a model, named in the message when they are set.
SIZING = ("latent_dim", "encoder.hidden", "encoder.channels", "vae.hidden", "vae.z1_dim", "vae.channels")


def parameters(tree: dict[str, Any], trust: Any = None) -> int | None:
    """The parameter count of the model that `tree["model"]` describes, its parts built on the
    meta device; None if one cannot be built there. `trust` as in
    vaelab.config.targets: a checkpoint's config builds only what it may name."""
    import torch

    from vaelab.config import targets

    # The parts the system holds (model.vae, or encoder, decoder, prior, likelihood; the
    # objective), not the system itself, whose metrics would cost 4x the parts' build.
    count = 0
    for key, node in tree["model"].items():
        if not (isinstance(node, dict) and "_target_" in node):
            continue
        try:
            with torch.device("meta"):
                part = targets.instantiate(node, path=f"model.{key}", trust=trust)
        except Exception:  # noqa: BLE001 (the real build reports it, with its traceback if it is vaelab's)
            return None
        if isinstance(part, torch.nn.Module):
            count += sum(p.numel() for p in part.parameters())
    return count


def memory() -> tuple[int, str]:
    """(bytes, what) of this machine's memory."""
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "this machine's memory"


def gpu_memory() -> tuple[int, str] | None:
    import torch

    if not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_properties(0).total_memory, f"the {torch.cuda.get_device_name(0)}'s memory"


def too_big(tree: dict[str, Any], trust: Any = None) -> str | None:
    """The line saying that the model of `tree` (a resolved, validated run config) would not fit
    in memory, naming the settings that size it and the estimate; None if it fits (or is unknown)."""
    count = parameters(tree, trust)
    if count is None:
        return None
    need = count * BYTES_PER_PARAMETER
    limits = [memory()]
    if (tree.get("trainer") or {}).get("accelerator") in ("gpu", "cuda") and (gpu := gpu_memory()):
        limits.append(gpu)
    have, where = min(limits)
    if need <= have:
        return None
    named = [f"model.{key}={value}" for key in SIZING if (value := _get(tree["model"], key)) is not None]
    named.append(f"data.shape={(tree.get('data') or {}).get('shape')}")
    return (
        f"{', '.join(named)}: the model would have {count:.3g} parameters, {need / 1e9:.1f} GB with their "
        f"gradients and Adam's state, more than the {have / 1e9:.1f} GB of {where}; make it smaller"
    )


def _get(node: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        if not isinstance(node, dict) or node.get(key) is None:
            return None
        node = node[key]
    return node
