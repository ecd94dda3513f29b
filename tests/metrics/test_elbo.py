"""The ELBO and NLL torchmetrics: exact means over batches, bits per dimension."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tests.helpers.models import IMG, _mlp_system, _np
from vaelab.likelihood import Gaussian
from vaelab.metrics import ELBO, NLL

# =========================================================================== metrics


def test_elbo_metric_accumulates_exact_means():
    metric = ELBO()
    g = torch.Generator().manual_seed(0)
    batches = [(torch.rand(n, generator=g) * 100, torch.rand(n, generator=g) * 10) for n in (3, 7, 1, 5)]
    for r, k in batches:
        metric.update(r, k)
    out = metric.compute()
    r_all = np.concatenate([_np(r) for r, _ in batches])
    k_all = np.concatenate([_np(k) for _, k in batches])
    # Note: the mean over the concatenation, not the mean of batch means.
    assert abs(r_all.mean() - np.mean([_np(r).mean() for r, _ in batches])) > 1e-3
    np.testing.assert_allclose(float(out["recon"]), r_all.mean(), rtol=1e-6)
    np.testing.assert_allclose(float(out["kl"]), k_all.mean(), rtol=1e-6)
    np.testing.assert_allclose(float(out["elbo"]), -(r_all.mean() + k_all.mean()), rtol=1e-6)
    metric.reset()
    metric.update(torch.tensor([2.0]), torch.tensor([4.0]))
    assert float(metric.compute()["elbo"]) == pytest.approx(-6.0)


def test_nll_metric_and_bits_per_dim():
    dims = 3 * 32 * 32
    metric = NLL(num_dims=dims)
    g = torch.Generator().manual_seed(1)
    batches = [-(torch.rand(n, generator=g) * 3000) for n in (4, 9, 2)]
    for lp in batches:
        metric.update(lp)
    out = metric.compute()
    nll = -np.concatenate([_np(lp) for lp in batches]).mean()
    np.testing.assert_allclose(float(out["nll"]), nll, rtol=1e-6)
    np.testing.assert_allclose(float(out["bpd"]), nll / (dims * math.log(2)), rtol=1e-6)
    plain = NLL()
    plain.update(torch.tensor([-1.0, -3.0]))
    assert set(plain.compute()) == {"nll"}
    assert float(plain.compute()["nll"]) == pytest.approx(2.0)


def test_vae_test_nll_dims():
    assert _mlp_system().nll["test"].num_dims == math.prod(IMG)
    assert _mlp_system(data_shape=[10], likelihood=Gaussian()).nll["test"].num_dims is None
