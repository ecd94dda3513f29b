"""Small models and data shared by the tests (the VAE's maths, metrics, pictures)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from vaelab.likelihood import Bernoulli
from vaelab.model import VAE, ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder
from vaelab.objectives import ELBO
from vaelab.priors import StandardNormal
from vaelab.system import VAESystem

IMG = [1, 8, 8]
LAT = 3


def _mlp_parts(data_shape=IMG, latent_dim=LAT, likelihood=None, head_std=0.3, seed=0) -> dict:
    torch.manual_seed(seed)
    likelihood = likelihood or Bernoulli()
    enc = MLPEncoder(data_shape, latent_dim, [32])
    dec = MLPDecoder(data_shape, latent_dim, [32], params_per_dim=likelihood.params_per_dim)
    nn.init.normal_(enc.head.weight, std=head_std)
    nn.init.normal_(enc.head.bias, std=head_std)
    return {
        "encoder": enc,
        "decoder": dec,
        "likelihood": likelihood,
        "data_shape": data_shape,
        "latent_dim": latent_dim,
    }


def _mlp_vae(data_shape=IMG, latent_dim=LAT, likelihood=None, head_std=0.3, seed=0, prior=None) -> VAE:
    """A small MLP VAE; the encoder head is re-initialised larger so q(z|x) is far from N(0, I)."""
    parts = _mlp_parts(data_shape, latent_dim, likelihood, head_std, seed)
    return VAE(prior=prior or StandardNormal(latent_dim), **parts)


def _mlp_system(data_shape=IMG, latent_dim=LAT, likelihood=None, head_std=0.3, seed=0, beta=1.0, **kw) -> VAESystem:
    """The training system around the same small MLP VAE, with the ELBO objective at `beta`."""
    parts = _mlp_parts(data_shape, latent_dim, likelihood, head_std, seed)
    return VAESystem(objective=kw.pop("objective", None) or ELBO(beta=beta), **parts, **kw)


def _images(b: int, shape=IMG, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, *shape, generator=g)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().numpy()


def _conv_vae(data_shape, channels, likelihood=None, latent_dim=4) -> VAE:
    torch.manual_seed(0)
    likelihood = likelihood or Bernoulli()
    enc = ConvEncoder(data_shape, latent_dim, channels)
    dec = ConvDecoder(data_shape, latent_dim, channels, params_per_dim=likelihood.params_per_dim)
    nn.init.normal_(enc.head.weight, std=0.3)
    return VAE(enc, dec, likelihood, StandardNormal(latent_dim), data_shape, latent_dim)
