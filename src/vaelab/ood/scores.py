"""Per-example out-of-distribution scores of a trained VAE: higher = more out-of-distribution.

    nll(x)        = -log p(x), nats, the importance-weighted estimate with K samples
                    (Burda et al., 2016, eq. 8; `VAE.log_marginal`). Nalisnick et al. (2019a,
                    "Do deep generative models know what they don't know?") showed that it
                    can fail: a model of Fashion-MNIST gives MNIST a *higher* likelihood.
    bpd(x)        = nll(x) / (D ln 2), bits per dimension (as vaelab.metrics.NLL).
    typicality(x) = | nll(x) - H |,  H = the mean nll over held-out in-distribution data
                    (the validation split). Nalisnick et al. (2019b, "Detecting out-of-
                    distribution inputs to deep generative models using typicality",
                    arXiv:1906.02994) test a batch of M inputs,
                        | -(1/M) sum_m log p(x_m) - H | >= epsilon,
                    i.e. whether the batch lies in the typical set. `typicality` is the M = 1,
                    per-example version; `typicality_batches` scores batches of M.
    complexity(x) = bpd(x) - L(x), the input-complexity correction of Serra et al. (2020,
                    "Input complexity and out-of-distribution detection with likelihood-based
                    generative models", arXiv:1909.11480): S(x) = l_M(x) - L(x) with
                    l_M(x) = -log2 p(x) / D and L(x) the length in bits of x compressed by a
                    lossless generic compressor, / D. Here the compressor is PNG (PIL, zlib
                    level 9, optimize) on the image quantised to 8 bits, and L(x) is the
                    length of the whole PNG file, header and chunk framing included, as the
                    paper measures it. That overhead (about 57 bytes) is the same for every
                    image of a shape, so it shifts every score of a shape alike and changes
                    no AUROC.
Caveat for continuous likelihoods (Gaussian, continuous Bernoulli): bpd is then a density,
not a code length, and sits a constant 8 bits per dimension (log2 256, the 8-bit bin width)
below the discretised code length; again the same for every example, so AUROCs are unchanged.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from vaelab.errors import ConfigError

# PIL mode of an 8-bit image with this many channels.
PNG_MODES = {1: "L", 3: "RGB"}


@contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Run with torch's global generator(s) set to `seed`, and give the caller's back afterwards."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


@torch.no_grad()
def nll(model, x: torch.Tensor, *, num_samples: int, batch_size: int, seed: int = 0) -> torch.Tensor:
    """-log p(x) per example, nats, (N,) float64: `model.log_marginal` with K = num_samples,
    batch_size examples at a time, on the model's device. The same (x, K, batch_size, seed)
    give the same numbers, whatever ran before."""
    out = []
    with seeded(seed, model.device):
        for start in range(0, len(x), batch_size):
            batch = x[start : start + batch_size].to(model.device)  # (b, *data_shape)
            out.append(-model.log_marginal(batch, num_samples).double().cpu())
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.float64)


def bpd(nll_nats: torch.Tensor, num_dims: int) -> torch.Tensor:
    """Bits per dimension: nats per example / (D ln 2)."""
    return nll_nats / (num_dims * math.log(2.0))


def typicality(nll_nats: torch.Tensor, entropy: float) -> torch.Tensor:
    """|nll(x) - H| per example (M = 1), H = mean nll of held-out in-distribution data."""
    return (nll_nats - entropy).abs()


def typicality_batches(nll_nats: torch.Tensor, entropy: float, m: int, seed: int = 0) -> torch.Tensor:
    """|mean nll of a batch - H| for N // m disjoint batches of m examples drawn without
    replacement by a seeded permutation (the remainder is left out): (N // m,)."""
    n = len(nll_nats) // m * m
    order = torch.randperm(len(nll_nats), generator=torch.Generator().manual_seed(seed))[:n]
    return (nll_nats[order].view(-1, m).mean(1) - entropy).abs()


def png_bits(image: np.ndarray) -> int:
    """Length in bits of one 8-bit image (H, W) or (H, W, 3), uint8, saved as a PNG file."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", optimize=True, compress_level=9)
    return 8 * len(buffer.getvalue())


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """Images (N, C, H, W) in [0, 1] -> uint8 (N, H, W) for C = 1, (N, H, W, 3) for C = 3."""
    levels = (x.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu()
    levels = levels.permute(0, 2, 3, 1)  # (N, H, W, C), PIL's layout
    return (levels[..., 0] if x.shape[1] == 1 else levels).numpy()


def png_bpd(x: torch.Tensor) -> torch.Tensor:
    """L(x): PNG code length in bits per dimension of each image of x (N, C, H, W), C in {1, 3},
    values in [0, 1] (quantised to 256 levels); (N,) float64."""
    if x.ndim != 4 or x.shape[1] not in PNG_MODES:
        raise ConfigError(f"PNG complexity needs images (N, 1 or 3, H, W), got shape {list(x.shape)}")
    num_dims = math.prod(x.shape[1:])
    images = to_uint8(x)
    return torch.tensor([png_bits(im) / num_dims for im in images], dtype=torch.float64)


def complexity(bpd_model: torch.Tensor, png: torch.Tensor) -> torch.Tensor:
    """S(x) = bpd under the model - PNG bpd: high when the model needs more bits than PNG."""
    return bpd_model - png
