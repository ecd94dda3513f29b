"""GaussianMixture's matmul density equals torch's MixtureSameFamily, values and gradients."""

from __future__ import annotations

import torch
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

from vaelab.priors.mixture import GaussianMixture


def reference(logits, loc, scale):
    return MixtureSameFamily(Categorical(logits=logits), Independent(Normal(loc, scale), 1))


def test_log_prob_and_gradients_equal_the_elementwise_mixture():
    g = torch.Generator().manual_seed(0)
    k, dim = 7, 5
    # Small and large scales, points near and far from the means: where the expansion cancels most.
    logits = torch.randn(k, generator=g, dtype=torch.float64, requires_grad=True)
    loc = (3 * torch.randn(k, dim, generator=g, dtype=torch.float64)).requires_grad_()
    scale = torch.exp(torch.empty(k, dim, dtype=torch.float64).uniform_(-4, 1, generator=g)).requires_grad_()
    z = torch.cat(
        [
            loc.detach()[:3] + 1e-3 * torch.randn(3, dim, generator=g, dtype=torch.float64),
            5 * torch.randn(4, 2, dim, generator=g, dtype=torch.float64).reshape(8, dim),
        ]
    )
    ours, theirs = GaussianMixture(logits, loc, scale).log_prob(z), reference(logits, loc, scale).log_prob(z)
    torch.testing.assert_close(ours, theirs, rtol=1e-9, atol=1e-8)
    grads = torch.autograd.grad(ours.sum(), (logits, loc, scale))
    expected = torch.autograd.grad(theirs.sum(), (logits, loc, scale))
    for a, b in zip(grads, expected):
        torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-7)


def test_float32_batches_keep_their_shape_and_match():
    g = torch.Generator().manual_seed(1)
    logits, loc = torch.zeros(500), torch.randn(500, 40, generator=g)
    scale = torch.rand(500, 40, generator=g) * 0.5 + 0.05
    z = torch.randn(3, 100, 40, generator=g)  # (K samples, batch, L)
    ours = GaussianMixture(logits, loc, scale).log_prob(z)
    assert ours.shape == (3, 100) and ours.dtype == torch.float32
    theirs = reference(logits.double(), loc.double(), scale.double()).log_prob(z.double())
    torch.testing.assert_close(ours.double(), theirs, rtol=1e-6, atol=1e-4)
    assert GaussianMixture(logits, loc, scale).sample((4,)).shape == (4, 40)
