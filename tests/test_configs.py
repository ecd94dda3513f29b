"""Every config in conf/ composes and instantiates."""

from __future__ import annotations

import re

import lightning as L
import pytest
import torch
from hydra.utils import instantiate

from tests.conftest import CONF
from vaelab.config import targets
from vaelab.model import VAE
from vaelab.model.hierarchical import HierarchicalVAE
from vaelab.system import VAESystem


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


ARCHITECTURES = [m for m in options("model") if m != "vae"]


@pytest.mark.parametrize("likelihood", options("likelihood"))
@pytest.mark.parametrize("model", ARCHITECTURES)
def test_every_model_and_likelihood_instantiates_and_runs(cfg_factory, model, likelihood):
    cfg = cfg_factory(f"model={model}", f"likelihood={likelihood}", "data=fashion_mnist")
    system = instantiate(cfg.model)
    vae = system.vae
    assert isinstance(system, VAESystem) and isinstance(vae, VAE | HierarchicalVAE)
    assert getattr(vae, "group_sizes", (vae.latent_dim,))[0] == 4  # model.latent_dim: the prior's group
    x = torch.randint(0, 256, (3, 1, 28, 28)) / 255.0  # 8-bit levels: every likelihood models them
    recon, kl = vae.elbo_terms(x)
    assert recon.shape == kl.shape == (3,) and torch.isfinite(recon).all()
    assert type(vae.likelihood).__name__ == cfg.likelihood._target_.rsplit(".", 1)[1]


@pytest.mark.parametrize("group", ["objective", "prior", "kl_schedule"])
def test_every_objective_prior_and_schedule_trains_a_step(cfg_factory, group):
    for option in options(group):
        cfg = cfg_factory(f"{group}={option}")
        system = instantiate(cfg.model)
        assert (
            type(getattr(system, group) if group != "prior" else system.vae.prior).__name__
            == (getattr(cfg, group)._target_.rsplit(".", 1)[1])
        ), option
        system.train()
        step = system.objective(system.vae, torch.rand(8, 1, 8, 8), system.kl_weight())
        assert step.loss.dim() == 0 and torch.isfinite(step.loss), option
        step.loss.backward()


@pytest.mark.parametrize("trainer", options("trainer"))
def test_every_trainer_instantiates(cfg_factory, trainer):
    cfg = cfg_factory(f"trainer={trainer}")
    if cfg.trainer.accelerator == "gpu" and not torch.cuda.is_available():
        with pytest.raises(Exception, match="(?i)gpu|cuda"):
            targets.instantiate(cfg.trainer, path="trainer")
        return
    assert isinstance(targets.instantiate(cfg.trainer, path="trainer"), L.Trainer)


@pytest.mark.parametrize("logger", options("logger"))
def test_every_logger_instantiates(cfg_factory, logger):
    cfg = cfg_factory(f"logger={logger}")
    loggers = [instantiate(c) for c in (cfg.logger or {}).values()]
    assert len(loggers) == (0 if logger == "none" else 1)
    for lg in loggers:
        assert isinstance(lg, L.pytorch.loggers.Logger)
    if logger == "none":
        assert cfg.callbacks.lr_monitor is None  # it would fail without a logger


@pytest.mark.parametrize("callbacks", options("callbacks"))
def test_every_callback_set_instantiates(cfg_factory, callbacks):
    cfg = cfg_factory(f"callbacks={callbacks}")
    made = [instantiate(c) for c in cfg.callbacks.values() if c is not None]
    assert all(isinstance(c, L.Callback) for c in made)
    assert len(made) == len([c for c in cfg.callbacks.values() if c is not None])


@pytest.mark.parametrize("experiment", options("experiment"))
def test_every_experiment_composes(cfg_factory, experiment):
    # On the experiment's own data where it names one (a model sized for its images), else digits.
    chosen = re.search(r"override /data: (\w+)", (CONF / "experiment" / f"{experiment}.yaml").read_text())
    cfg = cfg_factory(f"experiment={experiment}", *([f"data={chosen[1]}"] if chosen else []))
    assert isinstance(instantiate(cfg.model), VAESystem)


def test_required_knobs_exist(cfg_factory):
    cfg = cfg_factory("objective.beta=4", "model.latent_dim=7", "seed=3", "trainer.max_epochs=2")
    system = instantiate(cfg.model)
    assert (system.objective.beta, system.vae.latent_dim) == (4.0, 7)
    assert cfg.trainer.max_epochs == 2 and cfg.data.seed == 3
    assert system.vae.decoder.out_shape == (1, 1, 8, 8)
    learned = instantiate(cfg_factory("likelihood=gaussian_learned").model)
    assert learned.vae.decoder.out_shape == (2, 1, 8, 8)  # the decoder width follows the likelihood


@pytest.mark.parametrize("debug", options("debug"))
def test_every_debug_preset_composes(cfg_factory, debug):
    cfg = cfg_factory(f"debug={debug}")
    assert isinstance(targets.instantiate(cfg.trainer, path="trainer"), L.Trainer)
