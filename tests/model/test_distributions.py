"""vaelab.model.distributions: the unchecked diagonal Gaussian is torch's, without the checks."""

import math

import pytest
import torch
from torch.distributions import Independent, Normal

from vaelab.model.distributions import diagonal_normal
from vaelab.priors import StandardNormal


def test_diagonal_normal_is_the_checked_distribution_without_its_checks():
    torch.manual_seed(0)
    loc, scale = torch.randn(5, 3), torch.rand(5, 3) + 0.1
    z = torch.randn(5, 3)
    ours, checked = diagonal_normal(loc, scale), Independent(Normal(loc, scale, validate_args=True), 1)
    assert ours.batch_shape == (5,) and ours.event_shape == (3,)
    torch.testing.assert_close(ours.log_prob(z), checked.log_prob(z), rtol=0, atol=0)
    torch.testing.assert_close(ours.entropy(), checked.entropy(), rtol=0, atol=0)
    # The checks are what is left out: a scale of 0 is refused by torch's, not by ours.
    with pytest.raises(ValueError):
        Independent(Normal(loc, torch.zeros_like(scale), validate_args=True), 1)
    diagonal_normal(loc, torch.zeros_like(scale))


def test_standard_prior_and_its_temperature_in_closed_form():
    prior = StandardNormal(4)
    z = torch.randn(6, 4)
    log_2pi = math.log(2 * math.pi)
    torch.testing.assert_close(prior().log_prob(z), -0.5 * (z.square().sum(-1) + 4 * log_2pi))
    t = 0.5  # N(0, T^2 I)
    expected = -0.5 * ((z / t).square().sum(-1) + 4 * log_2pi) - 4 * math.log(t)
    torch.testing.assert_close(prior.tempered(t).log_prob(z), expected)
