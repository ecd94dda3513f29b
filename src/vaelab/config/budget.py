"""Will the model fit in memory? Its parameter count, estimated from the settings before it is built.

A setting such as model.latent_dim=100000000 makes torch try to allocate hundreds of GB while
building the first layer, and fail in a message about the allocator. `too_big(tree)` counts the
parameters the model's settings describe (vaelab's encoders, decoders, priors and the FactorVAE
discriminator, layer by layer as their classes build them) and says, in one line, when they with
their gradients and Adam's two moments would exceed this machine's memory (or the GPU's, when
training on one). Components it does not know count 0: the estimate is a lower bound.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

#: float32 weights, their gradients and Adam's first and second moments.
BYTES_PER_PARAMETER = 4 * 4


def _linear(d_in: int, d_out: int) -> int:
    return d_in * d_out + d_out


def _mlp(sizes: Sequence[int], gated: bool = False) -> int:
    # A gated dense layer is one Linear emitting both halves (vaelab.model.mlp.GatedDense).
    return sum(_linear(a, (2 if gated else 1) * b) for a, b in zip(sizes[:-1], sizes[1:]))


def _conv(c_in: int, c_out: int) -> int:  # kernel 4x4, as vaelab.model.conv builds them
    return c_in * c_out * 16 + c_out


def _halved(size: int, stages: int) -> int:
    for _ in range(stages):
        size //= 2
    return size


def net_parameters(node: dict[str, Any]) -> int:
    """Parameters of a vaelab encoder or decoder (vaelab.model.mlp, vaelab.model.conv) from its settings."""
    target, shape, latent = node.get("_target_"), node.get("data_shape"), node.get("latent_dim")
    per_dim = node.get("params_per_dim", 1)
    if not (isinstance(shape, list) and isinstance(latent, int)):
        return 0
    if target in ("vaelab.model.MLPEncoder", "vaelab.model.MLPDecoder"):
        hidden, gated = list(node.get("hidden") or []), node.get("gated") is True
        if target.endswith("Encoder"):
            body = _mlp([math.prod(shape), *hidden], gated)
            return body + _linear(hidden[-1] if hidden else math.prod(shape), 2 * latent)
        sizes = [latent, *reversed(hidden)]
        return _mlp(sizes, gated) + _linear(sizes[-1], per_dim * math.prod(shape))
    if target in ("vaelab.model.ConvEncoder", "vaelab.model.ConvDecoder") and len(shape) == 3 and node.get("channels"):
        channels = list(node["channels"])
        end = _halved(shape[1], len(channels)) * _halved(shape[2], len(channels))
        if target.endswith("Encoder"):
            convs = sum(_conv(a, b) for a, b in zip([shape[0], *channels[:-1]], channels))
            return convs + _linear(channels[-1] * end, 2 * latent)
        rev = list(reversed(channels))
        convs = sum(_conv(a, b) for a, b in zip(rev, [*rev[1:], per_dim * shape[0]]))
        return _linear(latent, rev[0] * end) + convs
    return 0


def prior_parameters(node: dict[str, Any]) -> int:
    target, k = node.get("_target_"), node.get("components", 0)
    if target == "vaelab.priors.MixtureOfGaussians":
        return k + 2 * k * node.get("latent_dim", 0)  # logits, means, log-scales
    if target == "vaelab.priors.VampPrior":
        return k * math.prod(node.get("data_shape") or [0])  # the pseudo-inputs
    return 0


def objective_parameters(node: dict[str, Any]) -> int:
    if node.get("_target_") == "vaelab.objectives.FactorVAE":  # its discriminator: z -> hidden -> 2 logits
        return _mlp([node.get("latent_dim", 0), *(node.get("discriminator_hidden") or []), 2])
    return 0


def parameters(tree: dict[str, Any]) -> int:
    """The model's parameter count as its resolved settings describe it (unknown components: 0)."""
    model = tree.get("model") or {}
    parts = [net_parameters(model.get(k) or {}) for k in ("encoder", "decoder")]
    return sum(parts) + prior_parameters(model.get("prior") or {}) + objective_parameters(model.get("objective") or {})


def memory() -> tuple[int, str]:
    """(bytes, what) of this machine's memory."""
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "this machine's memory"


def gpu_memory() -> tuple[int, str] | None:
    import torch

    if not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_properties(0).total_memory, f"the {torch.cuda.get_device_name(0)}'s memory"


def too_big(tree: dict[str, Any]) -> str | None:
    """The line saying that the model of `tree` (a resolved, validated run config) would not fit
    in memory, naming the settings that size it and the estimate; None if it fits."""
    count = parameters(tree)
    need = count * BYTES_PER_PARAMETER
    limits = [memory()]
    if (tree.get("trainer") or {}).get("accelerator") in ("gpu", "cuda") and (gpu := gpu_memory()):
        limits.append(gpu)
    have, where = min(limits)
    if need <= have:
        return None
    model, encoder = tree["model"], tree["model"].get("encoder") or {}
    named = [f"model.latent_dim={model.get('latent_dim')}"]
    named += [f"model.encoder.{key}={encoder[key]}" for key in ("hidden", "channels") if key in encoder]
    named.append(f"data.shape={(tree.get('data') or {}).get('shape')}")
    return (
        f"{', '.join(named)}: the model would have {count:.3g} parameters, {need / 1e9:.1f} GB with their "
        f"gradients and Adam's state, more than the {have / 1e9:.1f} GB of {where}; make it smaller"
    )
