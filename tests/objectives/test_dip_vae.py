"""DIP-VAE's covariance penalty: zero exactly when the covariance is the identity, numpy's value
otherwise, and the loss it adds to the ELBO."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.helpers.models import _mlp_vae, _np
from vaelab.objectives import DIPVAE
from vaelab.objectives.dip_vae import dip_penalty, latent_covariance


def whitened(b: int, latent: int, seed: int = 0) -> torch.Tensor:
    """b points (b, L), float64, whose biased sample covariance is exactly the identity."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, latent, generator=g, dtype=torch.float64) @ torch.randn(
        latent, latent, generator=g, dtype=torch.float64
    )
    x = x - x.mean(0) + 3.0  # any mean: the covariance ignores it
    cov = np.cov(_np(x).T, bias=True)
    vals, vecs = np.linalg.eigh(cov)
    inv_sqrt = torch.as_tensor(vecs @ np.diag(vals**-0.5) @ vecs.T)
    return (x - x.mean(0)) @ inv_sqrt + 3.0


def numpy_penalty(mu, var, variant, lambda_od, lambda_d) -> float:
    cov = np.cov(_np(mu).T, bias=True) + (np.diag(_np(var).mean(0)) if variant == "ii" else 0)
    off = cov - np.diag(np.diag(cov))
    return lambda_od * (off**2).sum() + lambda_d * ((np.diag(cov) - 1) ** 2).sum()


def test_penalty_is_zero_at_the_identity():
    mu = whitened(200, 4)
    cov_i = latent_covariance(mu, torch.rand(200, 4, dtype=torch.float64), "i")
    np.testing.assert_allclose(_np(cov_i), np.eye(4), atol=1e-12)
    assert float(dip_penalty(cov_i, 10.0, 100.0)) < 1e-20
    # DIP-VAE-II: Cov[mu] = 0.75 I and per-dimension mean posterior variance 0.25 add up to I.
    u = torch.rand(200, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64) + 0.1
    var = 0.25 * u / u.mean(0)
    cov_ii = latent_covariance(0.75**0.5 * mu, var, "ii")
    np.testing.assert_allclose(_np(cov_ii), np.eye(4), atol=1e-12)
    assert float(dip_penalty(cov_ii, 10.0, 10.0)) < 1e-20
    # ... which variant i, blind to the variances, does penalise.
    assert float(dip_penalty(latent_covariance(0.75**0.5 * mu, var, "i"), 10.0, 10.0)) > 0.5


@pytest.mark.parametrize("variant", ["i", "ii"])
def test_penalty_matches_numpy(variant):
    g = torch.Generator().manual_seed(2)
    mu = torch.randn(50, 5, generator=g, dtype=torch.float64) @ torch.randn(5, 5, generator=g, dtype=torch.float64)
    var = torch.rand(50, 5, generator=g, dtype=torch.float64)
    got = dip_penalty(latent_covariance(mu, var, variant), 3.0, 7.0)
    want = numpy_penalty(mu, var, variant, 3.0, 7.0)
    assert want > 1.0
    np.testing.assert_allclose(float(got), want, rtol=1e-12)


@pytest.mark.parametrize("variant", ["i", "ii"])
def test_loss_is_elbo_plus_penalty(variant):
    model = _mlp_vae(latent_dim=3)
    objective = DIPVAE(variant=variant, lambda_od=10.0, lambda_d=100.0)
    x = torch.rand(32, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    step = objective(model, x, kl_weight=0.5)
    q = step.q.base_dist
    penalty = numpy_penalty(q.loc, q.variance, variant, 10.0, 100.0)
    want = _np(step.recon).mean() + 0.5 * _np(step.kl).mean() + penalty
    np.testing.assert_allclose(float(step.loss.detach()), want, rtol=1e-5)
    assert step.terms.keys() == {"dip_penalty"}
    np.testing.assert_allclose(float(step.terms["dip_penalty"].detach()), penalty, rtol=1e-5)
    step.loss.backward()
    assert all(p.grad is not None for p in model.encoder.parameters())


def test_unknown_variant_is_refused():
    with pytest.raises(ValueError, match="variant"):
        DIPVAE(variant="iii")
