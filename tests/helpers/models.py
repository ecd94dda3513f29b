"""Small models and data shared by the tests (the VAE's maths, metrics, pictures)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from vaelab.likelihood import Bernoulli
from vaelab.model import VAE, ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder

IMG = [1, 8, 8]
LAT = 3


def _mlp_vae(data_shape=IMG, latent_dim=LAT, likelihood=None, head_std=0.3, seed=0, **kw) -> VAE:
    """A small MLP VAE; the encoder head is re-initialised larger so q(z|x) is far from N(0, I)."""
    torch.manual_seed(seed)
    likelihood = likelihood or Bernoulli()
    enc = MLPEncoder(data_shape, latent_dim, [32])
    dec = MLPDecoder(data_shape, latent_dim, [32], params_per_dim=likelihood.params_per_dim)
    nn.init.normal_(enc.head.weight, std=head_std)
    nn.init.normal_(enc.head.bias, std=head_std)
    return VAE(encoder=enc, decoder=dec, likelihood=likelihood, data_shape=data_shape, latent_dim=latent_dim, **kw)


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
    return VAE(encoder=enc, decoder=dec, likelihood=likelihood, data_shape=data_shape, latent_dim=latent_dim)
