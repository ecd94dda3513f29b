"""The controlled-capacity objective: its target C over training and the loss it gives."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.helpers.models import _mlp_vae, _np
from vaelab.objectives import Capacity


@pytest.mark.parametrize(
    "step, want", [(0, 0.0), (1, 25.0 / 100000), (30000, 7.5), (50000, 12.5), (100000, 25.0), (250000, 25.0)]
)
def test_capacity_rises_linearly_then_stays(step, want):
    assert Capacity(max_capacity=25.0, capacity_steps=100000).capacity(step) == pytest.approx(want, rel=1e-12)


def test_no_ramp_means_full_capacity_at_once():
    assert Capacity(max_capacity=5.0, capacity_steps=0).capacity(0) == 5.0


@pytest.mark.parametrize("global_step", [0, 400, 1000])
def test_loss_is_recon_plus_gamma_distance_to_capacity(global_step):
    """C = 0, 4 and 10 nats: below and above the batch's mean KL (about 1 nat), both sides of |KL - C|."""
    model = _mlp_vae(latent_dim=3)
    objective = Capacity(gamma=1000.0, max_capacity=10.0, capacity_steps=1000)
    objective.global_step = global_step
    x = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    step = objective(model, x, kl_weight=0.1)  # the KL schedule's factor plays no part
    c = 10.0 * global_step / 1000
    assert (c < float(step.kl.detach().mean())) == (global_step == 0)
    want = _np(step.recon).mean() + 1000.0 * abs(_np(step.kl).mean() - c)
    np.testing.assert_allclose(float(step.loss.detach()), want, rtol=1e-6)
    assert float(step.terms["capacity"]) == pytest.approx(c)


def test_global_step_defaults_to_zero():
    assert Capacity().global_step == 0
