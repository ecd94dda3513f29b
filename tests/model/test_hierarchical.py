"""The hierarchical estimators (vaelab.model.hierarchical) against a two-level linear-Gaussian
model's closed forms (tests/helpers/hierarchical.py), and the HVAE's parts (vaelab.model.hvae)."""

from __future__ import annotations

import math

import lightning as L
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from tests.helpers import hierarchical as lg
from vaelab.errors import ConfigError
from vaelab.likelihood import Bernoulli
from vaelab.model import HVAE
from vaelab.objectives import DIPVAE, ELBO, IWAE, BetaTCVAE, FactorVAE
from vaelab.priors import StandardNormal, VampPrior
from vaelab.system import VAESystem


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    return torch.tensor(lg.data(), dtype=torch.float32)


def _elbos(vae, x, reps: int = 400) -> np.ndarray:
    """-(recon + kl) for `reps` independent draws per example: (reps, N)."""
    torch.manual_seed(1)
    with torch.no_grad():
        recon, kl, _, _ = vae.elbo_sample(x.repeat(reps, 1))
    return (-(recon + kl)).double().numpy().reshape(reps, -1)


def test_exact_posterior_gives_exact_log_marginal(x):
    vae, exact = lg.exact(), lg.exact_log_px(x.double().numpy())
    torch.manual_seed(0)
    for k in (1, 3, 200):  # every weight p(x, z) / q(z|x) is p(x) itself
        np.testing.assert_allclose(vae.log_marginal(x, k).double().numpy(), exact, rtol=0, atol=2e-4)
    # The ELBO is tight too: per example its mean over draws is log p(x) (within 4 standard errors).
    elbos = _elbos(vae, x)
    gap = elbos.mean(0) - exact
    assert np.all(np.abs(gap) < 4 * elbos.std(0, ddof=1) / math.sqrt(len(elbos)) + 1e-4)


def test_elbo_is_below_log_p_and_the_iw_bound_climbs_to_it(x):
    vae, exact = lg.imperfect(), lg.exact_log_px(x.double().numpy())
    elbos = _elbos(vae, x)
    # Off the true posterior the ELBO is strictly below log p(x): by far more than its noise.
    gap = exact - elbos.mean(0)
    assert np.all(gap > 4 * elbos.std(0, ddof=1) / math.sqrt(len(elbos)))
    torch.manual_seed(2)
    bounds = {k: vae.log_marginal(x.repeat(20, 1), k).double().numpy().reshape(20, -1).mean(0) for k in (1, 10, 100)}
    bounds[5000] = vae.log_marginal(x, 5000).double().numpy()
    # L_1 <= L_10 <= L_100 <= log p(x) on average (Burda et al., Theorem 1), and L_K -> log p(x).
    assert bounds[1].mean() < bounds[10].mean() < bounds[100].mean() < exact.mean()
    assert abs((bounds[5000] - exact).mean()) < 0.02 < (exact - bounds[1]).mean()


def test_per_group_kl_is_closed_form_and_adds_up_to_the_joint_kl(x):
    vae = lg.imperfect()
    torch.manual_seed(3)
    with torch.no_grad():
        recon, kl, q, z = vae.elbo_sample(x)
        # The top group: KL(N(u x, e^lv2) || N(0, 1)) by hand.
        m, v = (vae.u * x).double(), vae.lv2.double().exp()
        top = 0.5 * (m**2 + v - 1 - v.log()).sum(-1)
        torch.testing.assert_close(q.kl_groups[:, 0].double(), top, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(kl, q.kl_groups.sum(-1))
        # The sum of the groups' KLs is the joint KL(q(z|x) || p(z)): against an independent Monte
        # Carlo estimate E_q[log q(z|x) - log p(z)] from the joint densities.
        reps = 2000
        _, kl_many, q_many, z_many = vae.elbo_sample(x.repeat(reps, 1))
        log_ratio = q_many.log_prob(z_many) - vae.prior_dist().log_prob(z_many)
        mc = log_ratio.double().view(reps, -1).mean(0)
        se = log_ratio.double().view(reps, -1).std(0) / math.sqrt(reps)
        closed = kl_many.double().view(reps, -1).mean(0)
        assert torch.all((mc - closed).abs() < 4 * se + 1e-3)


def test_temperature_scales_every_group():
    vae = lg.exact()
    torch.manual_seed(4)
    for t in (0.3, 0.7, 1.0):
        z = vae.prior_dist(t).sample((20000,))  # (n, 2D): z2 then z1
        z2, z1 = vae.split(z)
        std_top, std_low = z2.std(0), (z1 - vae.a * z2).std(0)  # z1's own noise around a z2
        torch.testing.assert_close(std_top, torch.full((lg.D,), t), atol=0.02, rtol=0)
        torch.testing.assert_close(std_low, torch.full((lg.D,), t * lg.S1), atol=0.02, rtol=0)


def _hvae(prior=None) -> HVAE:
    torch.manual_seed(0)
    prior = StandardNormal(6) if prior is None else prior
    return HVAE((1, 8, 8), Bernoulli(), prior, z1_dim=5, z2_dim=6, hidden=16)


@pytest.mark.parametrize("prior", ["standard", "vamp"])
@pytest.mark.parametrize("objective", [ELBO(), IWAE(num_samples=3)])
def test_gradients_reach_every_group(prior, objective):
    vae = _hvae(VampPrior((1, 8, 8), components=4) if prior == "vamp" else None)
    x = (torch.rand(10, 1, 8, 8) > 0.5).float()
    objective(vae, x).loss.backward()
    silent = [name for name, p in vae.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not silent, f"no gradient reaches {silent}"


def test_free_bits_hold_each_group_apart():
    vae, x = _hvae(), (torch.rand(10, 1, 8, 8) > 0.5).float()
    torch.manual_seed(5)
    step = ELBO(free_bits=0.3)(vae, x)
    kl_groups = step.q.kl_groups.mean(0)  # (G,): each group's batch-mean KL
    assert kl_groups.shape == (2,) and (kl_groups < 0.3).any()  # at initialisation, some below lambda
    torch.testing.assert_close(step.loss, step.recon.mean() + kl_groups.clamp(min=0.3).sum())


def test_hvae_prior_density_is_the_product_of_its_conditionals():
    vae = _hvae(VampPrior((1, 8, 8), components=4))
    z = torch.randn(7, 11)
    z2, z1 = vae.split(z)
    with torch.no_grad():
        by_hand = vae.prior(vae.encode_top).log_prob(z2) + vae.conditional_prior(1, [z2]).log_prob(z1)
        torch.testing.assert_close(vae.prior_dist().log_prob(z), by_hand)


def test_codes_decode_back_and_samples_have_the_data_shape():
    vae = _hvae()
    x = (torch.rand(4, 1, 8, 8) > 0.5).float()
    with torch.no_grad():
        q = vae.encode(x)
        assert q.mean.shape == (4, 11) and q.kl_groups.shape == (4, 2)
        # decode(code) walks the same path as the encoder's means: the same p(x|z) as by hand.
        z2, z1 = vae.split(q.mean)
        torch.testing.assert_close(vae.decode(q.mean).mean, torch.sigmoid(vae.output([z2, z1])).view(4, 1, 8, 8))
        assert vae.sample(3, temperature=0.7).shape == (3, 1, 8, 8)
        assert vae.traverse(x[:1], [0, 10], torch.linspace(-2, 2, 5)).shape == (2, 5, 1, 8, 8)


@pytest.mark.parametrize("objective", [BetaTCVAE(), FactorVAE(latent_dim=11), DIPVAE(), IWAE(estimator="dreg")])
def test_objectives_for_one_gaussian_posterior_refuse_it(objective):
    with pytest.raises(ConfigError, match="(?i)groups|one-layer") as err:
        VAESystem(vae=_hvae(), objective=objective)
    assert "\n" not in str(err.value)


def test_the_system_reports_kl_and_active_units_per_group():
    system = VAESystem(vae=_hvae())
    x = (torch.rand(64, 1, 8, 8) > 0.5).float()
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    (logged,) = trainer.validate(system, DataLoader(TensorDataset(x), batch_size=16), verbose=False)
    assert abs(logged["val/kl_z1"] + logged["val/kl_z2"] - logged["val/kl"]) < 1e-4
    assert logged["val/active_units_z1"] + logged["val/active_units_z2"] == logged["val/active_units"]
    # Each dimension's KL to its own conditional prior: the top group's six add up to kl_z2, all to kl.
    per_dim = system.latent_report["val"]["kl_per_dim"]
    assert len(per_dim) == 11 and abs(sum(per_dim[:6]) - logged["val/kl_z2"]) < 1e-4
    assert abs(sum(per_dim) - logged["val/kl"]) < 1e-4
