"""model=top_down (vaelab.model.top_down): its shapes, its one-line refusals, and the CIFAR-10 GPU
preset (experiment=cifar10_top_down) trained for a few steps on the CPU."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from vaelab.config import targets
from vaelab.errors import ConfigError
from vaelab.likelihood import Bernoulli
from vaelab.model import TopDownVAE
from vaelab.priors import StandardNormal


def test_groups_sit_at_their_resolutions():
    vae = TopDownVAE(
        (1, 28, 28),
        Bernoulli(),
        StandardNormal(6),
        latent_dim=6,
        width=8,
        resolutions=[7, 14],
        groups=[2, 1],
        latent_channels=3,
    )
    assert vae.group_sizes == (6, 3 * 7 * 7, 3 * 7 * 7, 3 * 14 * 14)
    x = (torch.rand(2, 1, 28, 28) > 0.5).float()
    features = vae.bottom_up(x)
    assert [tuple(f.shape[2:]) for f in features] == [(1, 1), (7, 7), (14, 14)]
    with torch.no_grad():
        assert vae.decode(vae.encode(x).mean).mean.shape == (2, 1, 28, 28)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(resolutions=[14, 7], groups=[1, 1]), "strictly increasing"),
        (dict(resolutions=[7], groups=[1, 1]), "one number of groups per resolution"),
        (dict(resolutions=[7, 56], groups=[1, 1]), "height 28"),
    ],
)
def test_bad_sizes_are_one_line(kwargs, message):
    with pytest.raises(ConfigError, match=message) as err:
        TopDownVAE((1, 28, 28), Bernoulli(), StandardNormal(4), latent_dim=4, **kwargs)
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="needs images"):
        TopDownVAE((784,), Bernoulli(), StandardNormal(4), latent_dim=4)


def test_cifar10_gpu_preset_trains_a_few_steps_on_the_cpu(cfg_factory):
    """The preset's model as configured (width 128, 12 spatial groups, the logistic mixture),
    in float32 on the CPU: two optimiser steps on 8-bit images move every group's posterior, and the
    test pass reports bits per dimension."""
    cfg = cfg_factory("experiment=cifar10_top_down", "trainer=cpu", "trainer.precision=32-true", "data=digits")
    cfg.model.vae.data_shape = [3, 32, 32]  # CIFAR-10's shape: its files are not on this machine
    system = targets.instantiate(cfg.model, path="model")
    assert len(system.vae.group_sizes) == 13 and system.vae.likelihood.n_mix == 5
    before = {name: p.detach().clone() for name, p in system.vae.named_parameters()}
    x = torch.randint(0, 256, (4, 3, 32, 32)) / 255.0
    data = DataLoader(TensorDataset(x, torch.zeros(4)), batch_size=2)
    trainer = L.Trainer(
        max_steps=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
    )
    trainer.fit(system, train_dataloaders=data)
    moved = [name for name, p in system.vae.named_parameters() if not torch.equal(p, before[name])]
    # Every group's posterior and its path into the state (the priors' heads wait for the free bits).
    assert all(
        any(name.startswith(f"{part}.{g}.") for name in moved) for part in ("q_heads", "z_proj") for g in (0, 1, 12)
    )
    system.num_iw_samples = 2
    (metrics,) = trainer.test(system, DataLoader(TensorDataset(x[:2], torch.zeros(2)), batch_size=2), verbose=False)
    assert 0 < metrics["test/bpd"] < 20 and metrics["test/kl_z12"] >= 0
