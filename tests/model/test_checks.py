"""A researcher's part that does not fit its interface is named in one line before the first step."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.distributions import Independent, Normal

from tests.helpers.models import _images, _mlp_system
from vaelab.model import MLPEncoder
from vaelab.model.checks import PartError, check_parts
from vaelab.objectives import ELBO
from vaelab.runs.train import train


class SingleTensorEncoder(MLPEncoder):
    """Returns mu only: a common slip."""

    def forward(self, x):
        return super().forward(x)[0]


class WideEncoder(MLPEncoder):
    """Returns (mu, logvar) with one latent dimension too many."""

    def forward(self, x):
        mu, logvar = super().forward(x)
        return torch.cat([mu, mu[:, :1]], 1), torch.cat([logvar, logvar[:, :1]], 1)


class FlatDecoder(nn.Module):
    """Emits (B, D) instead of (B, P, *data_shape)."""

    def __init__(self, data_shape, latent_dim, hidden=(), params_per_dim=1, gated=False):
        super().__init__()
        self.net = nn.Linear(latent_dim, int(torch.tensor(data_shape).prod()))

    def forward(self, z):
        return self.net(z)


class PerExampleLoss(ELBO):
    """Forgets the batch mean."""

    def forward(self, model, x, kl_weight=1.0):
        step = super().forward(model, x, kl_weight)
        step.loss = step.recon + step.kl
        return step


class BatchedPrior(nn.Module):
    """A prior with a batch of distributions instead of one over z."""

    def __init__(self, latent_dim):
        super().__init__()
        self.latent_dim = latent_dim

    def forward(self, encode=None):
        return Independent(Normal(torch.zeros(3, self.latent_dim), 1.0), 1)


HERE = "tests.model.test_checks"


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            [f"model.encoder._target_={HERE}.SingleTensorEncoder"],
            f"model.encoder ({HERE}.SingleTensorEncoder): must return (mu, logvar), each of shape (B, latent_dim) = "
            "(4, 4); it returned a tensor of shape (4, 4)",
        ),
        (
            [f"model.encoder._target_={HERE}.WideEncoder"],
            f"model.encoder ({HERE}.WideEncoder): mu and logvar must each be of shape (B, latent_dim) = (4, 4); "
            "it returned a tuple of 2: (a tensor of shape (4, 5), a tensor of shape (4, 5))",
        ),
        (
            [f"model.decoder._target_={HERE}.FlatDecoder"],
            f"model.decoder ({HERE}.FlatDecoder): must return the likelihood's parameters of shape "
            "(B, params_per_dim, *data_shape) = (4, 1, 1, 8, 8)",
        ),
        (
            [f"objective._target_={HERE}.PerExampleLoss"],
            f"model.objective ({HERE}.PerExampleLoss): its loss must be a scalar tensor (the batch's mean, nats per "
            "example); it gave a tensor of shape (4,)",
        ),
    ],
)
def test_a_part_that_does_not_fit_is_one_line_before_the_first_step(cfg_factory, tmp_path, overrides, message):
    cfg = cfg_factory(*overrides)
    with pytest.raises(PartError) as refused:
        train(cfg)
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)
    assert not list((tmp_path / "run").glob("checkpoints/*.ckpt"))  # no step was taken


def test_a_prior_that_is_not_one_distribution_over_z():
    system = _mlp_system()
    system.vae.prior = BatchedPrior(system.vae.latent_dim)
    with pytest.raises(
        PartError,
        match=r"model.prior \(.*BatchedPrior\): must give a torch Distribution with batch "
        r"shape \(\) and event shape \(latent_dim,\) = \(3,\); it gave batch shape \(3,\)",
    ):
        check_parts(system, _images(4))


def test_the_check_changes_nothing(cfg_factory, tmp_path, monkeypatch):
    # Same seed, same data: the run with the check ends exactly where the run without it does
    # (without the forked generator it does not), and the system is left in the mode it was in.
    import vaelab.system

    system = _mlp_system()
    state = torch.get_rng_state()
    check_parts(system.train(), _images(4))
    assert system.training and torch.equal(state, torch.get_rng_state())
    with_check = train(cfg_factory("test=false"))
    monkeypatch.setattr(vaelab.system, "check_parts", lambda *a: None)
    without = train(cfg_factory("test=false", f"paths.output_dir={tmp_path / 'again'}"))
    assert with_check == without
