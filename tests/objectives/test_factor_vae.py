"""FactorVAE: the discriminator's TC estimate against the closed form for Gaussians, the
permutation of Algorithm 1, the two losses, and training with two optimisers end to end."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from scipy.special import log_softmax

from tests.helpers.models import _mlp_vae, _np
from vaelab.config import targets
from vaelab.config.schema import ConfigError, validate
from vaelab.objectives import FactorVAE
from vaelab.objectives.factor_vae import permute_dims
from vaelab.runs.checkpoint import read_checkpoint
from vaelab.runs.train import train

# A correlated 2-D Gaussian (correlation 0.8, unequal scales): TC = -1/2 log(1 - 0.8^2) = 0.51 nats.
CORRELATED = np.array([[1.0, 0.8 * np.sqrt(2.0)], [0.8 * np.sqrt(2.0), 2.0]])
INDEPENDENT = np.diag(np.diag(CORRELATED))


def gaussian_tc(cov: np.ndarray) -> float:
    """TC of N(0, cov) = KL(N(0, cov) || N(0, diag(cov))) = 1/2 (sum_j log cov_jj - log det cov)."""
    return 0.5 * (np.log(np.diag(cov)).sum() - np.linalg.slogdet(cov)[1])


def gaussian_sampler(cov: np.ndarray, seed: int):
    chol = torch.linalg.cholesky(torch.tensor(cov, dtype=torch.float32))
    g = torch.Generator().manual_seed(seed)
    return lambda n: torch.randn(n, cov.shape[0], generator=g) @ chol.T  # (n, L)


@pytest.mark.parametrize("cov", [CORRELATED, INDEPENDENT], ids=["correlated", "independent"])
def test_discriminator_estimates_the_total_correlation(cov):
    """D trained on z vs permute_dims(z) (the objective's own loss and optimiser): the mean logit
    difference on fresh samples approaches the closed-form TC (0.51 nats; 0 when independent).
    The learning rate decays to 0 (cosine) so the estimate settles rather than jitters."""
    torch.manual_seed(0)
    objective = FactorVAE(latent_dim=2, discriminator_hidden=[64, 64], discriminator_lr=2e-3)
    optimizer = objective.discriminator_optimizer()
    steps = 300
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    draw = gaussian_sampler(cov, seed=1)
    for _ in range(steps):
        loss, _ = objective.discriminator_loss(draw(512))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    with torch.no_grad():
        estimate = float(objective.log_ratio(draw(50_000)).mean())
    want = gaussian_tc(cov)
    if want > 0:
        assert want == pytest.approx(0.5108, abs=1e-4)
        assert estimate == pytest.approx(want, rel=0.10)
    else:
        assert abs(estimate) < 0.02


def test_permute_dims_keeps_each_column_and_breaks_the_correlation():
    z = gaussian_sampler(CORRELATED, seed=2)(20_000)
    permuted = permute_dims(z, generator=torch.Generator().manual_seed(3))
    assert permuted.shape == z.shape
    # Each column is a permutation of its own values (the marginals q(z_j) are kept) ...
    np.testing.assert_array_equal(np.sort(_np(permuted), axis=0), np.sort(_np(z), axis=0))
    # ... with its own permutation: the rows are new pairs, and the correlation is gone.
    assert (permuted != z).all(dim=1).float().mean() > 0.99
    assert np.corrcoef(_np(z).T)[0, 1] == pytest.approx(0.8, abs=0.01)
    assert abs(np.corrcoef(_np(permuted).T)[0, 1]) < 0.03  # 4 standard errors at n = 20 000


def test_vae_loss_is_elbo_plus_gamma_tc_and_its_gradient_skips_the_discriminator():
    model = _mlp_vae(latent_dim=3)
    objective = FactorVAE(latent_dim=3, gamma=7.0, discriminator_hidden=[16, 16])
    x = torch.rand(32, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    step = objective(model, x, kl_weight=0.5)
    logits = _np(objective.discriminator(step.z))  # (B, 2)
    tc = logits[:, 0] - logits[:, 1]
    want = np.mean(_np(step.recon) + 0.5 * _np(step.kl) + 7.0 * tc)
    np.testing.assert_allclose(float(step.loss.detach()), want, rtol=1e-6)
    assert float(step.terms["tc"]) == pytest.approx(tc.mean(), rel=1e-5)

    step.loss.backward()
    assert all(p.grad is None for p in objective.discriminator.parameters())
    with_tc = model.encoder.head.weight.grad.clone()
    # The same sample without the TC term: the encoder's gradient differs, so the term reaches it.
    model.zero_grad()
    torch.manual_seed(0)
    FactorVAE(latent_dim=3, gamma=0.0, discriminator_hidden=[16, 16])(model, x, kl_weight=0.5).loss.backward()
    assert not torch.allclose(with_tc, model.encoder.head.weight.grad)


def test_discriminator_loss_is_the_mean_of_both_cross_entropies():
    objective = FactorVAE(latent_dim=3, discriminator_hidden=[16])
    z = gaussian_sampler(np.eye(3) + 0.5, seed=4)(64)
    torch.manual_seed(5)
    loss, terms = objective.discriminator_loss(z)
    torch.manual_seed(5)  # the same permutation again (it is the loss's first random draw)
    joint, permuted = (_np(objective.discriminator(s)) for s in (z, permute_dims(z)))
    want = 0.5 * (-log_softmax(joint, axis=1)[:, 0].mean() - log_softmax(permuted, axis=1)[:, 1].mean())
    np.testing.assert_allclose(float(loss.detach()), want, rtol=1e-5)
    accuracy = 0.5 * ((joint[:, 0] > joint[:, 1]).mean() + (permuted[:, 1] > permuted[:, 0]).mean())
    assert float(terms["disc_acc"]) == pytest.approx(accuracy)
    assert float(terms["tc"]) == pytest.approx((joint[:, 0] - joint[:, 1]).mean(), rel=1e-5)


def test_trains_end_to_end_with_two_optimisers(cfg_factory, recwarn):
    every_step = "callbacks.step_checkpoint.every_n_train_steps=1"
    cfg = cfg_factory("objective=factor_vae", "objective.discriminator_hidden=[32,32]", every_step)
    # The weights the run starts from: train() seeds the same way before building the model.
    system = _initial_system(cfg)
    first, again = system.state_dict(), _initial_system(cfg).state_dict()
    assert all(torch.equal(first[k], again[k]) for k in first)

    metrics = train(cfg)
    assert {"test/tc", "test/elbo", "val/tc"} <= metrics.keys()
    assert all(np.isfinite(metrics[k]) for k in ("test/tc", "test/elbo", "test/loss"))
    # loss = recon + KL + gamma * TC at the same samples, so over the test split -elbo + 35 tc.
    assert metrics["test/loss"] == pytest.approx(-metrics["test/elbo"] + 35.0 * metrics["test/tc"], rel=1e-4)

    checkpoint = read_checkpoint(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt")
    weights = checkpoint["state_dict"]
    for prefix in ("vae.encoder.", "vae.decoder.", "objective.discriminator."):
        names = [k for k in weights if k.startswith(prefix)]
        assert names and not any(torch.equal(weights[k], first[k]) for k in names), prefix
    # One Adam state per parameter of each network, the discriminator's with the paper's betas.
    model_state, disc_state = checkpoint["optimizer_states"]
    n_model, n_disc = (len(list(m.parameters())) for m in (system.vae, system.objective.discriminator))
    assert (len(model_state["state"]), len(disc_state["state"])) == (n_model, n_disc)
    assert disc_state["param_groups"][0]["lr"] == 1e-4
    assert tuple(disc_state["param_groups"][0]["betas"]) == (0.5, 0.9)
    # One batch is one global step, though two optimisers step in it (limit_train_batches=3).
    assert checkpoint["global_step"] == 3
    # Lightning's warning about manual optimisation's step checkpoints is not shown (see fit_and_test).
    assert not [w for w in recwarn if "manual optimization" in str(w.message)]


def _initial_system(cfg):
    L.seed_everything(cfg.seed, workers=True)
    return targets.instantiate(cfg.model, path="model")


@pytest.mark.parametrize(
    "override, named",
    [
        ("trainer.gradient_clip_val=0.5", "trainer.gradient_clip_val=0.5 is not supported with objective=factor_vae"),
        (
            "model.scheduler={_target_: torch.optim.lr_scheduler.StepLR, _partial_: true, step_size: 10}",
            "model.scheduler=torch.optim.lr_scheduler.StepLR is not supported with objective=factor_vae",
        ),
        ("trainer=ddp_cpu", "trainer.strategy=ddp is not supported with objective=factor_vae"),
    ],
    ids=["gradient_clip_val", "scheduler", "ddp"],
)
def test_schema_refuses_what_manual_optimisation_cannot_do(cfg_factory, override, named):
    validate(cfg_factory("objective=factor_vae"))
    validate(cfg_factory(override))  # the ELBO trains with automatic optimisation: allowed
    with pytest.raises(ConfigError) as raised:
        validate(cfg_factory("objective=factor_vae", override))
    message = str(raised.value)
    assert message.startswith(named) and "\n" not in message
