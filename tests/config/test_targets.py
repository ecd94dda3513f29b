"""vaelab.config.targets for a checkpoint's config: only vaelab's own classes and a few torch/Lightning families
(and, in tests/config/test_trust.py, the packages the user trusts) are instantiated."""

from __future__ import annotations

import sys

import pytest
from omegaconf import OmegaConf

from vaelab.config.targets import RefusedTarget, Trust, check, instantiate, resolve_target


@pytest.mark.parametrize(
    "target",
    [
        "vaelab.model.VAE",
        "vaelab.likelihood.Gaussian",
        "vaelab.data.Digits",
        "vaelab.callbacks.MetricsHistory",
        "vaelab.logger.wandb_logger",
        "vaelab.plugins.AtomicCheckpointIO",
        "torch.optim.AdamW",
        "torch.optim.lr_scheduler.CosineAnnealingLR",
        "torch.optim.lr_scheduler.ReduceLROnPlateau",
        "lightning.pytorch.Trainer",
        "lightning.pytorch.callbacks.EarlyStopping",
        "lightning.pytorch.loggers.CSVLogger",
    ],
)
def test_what_vaelab_ships_is_allowed(target):
    assert resolve_target(target) is not None


@pytest.mark.parametrize(
    "target",
    [
        "builtins.eval",
        "builtins.list",
        "os.system",
        "subprocess.run",
        "pathlib.Path.write_text",
        "numpy.load",
        "torch.load",
        "vaelab.runs.io.write_text",  # a vaelab function, not a component
        "vaelab.runs.train.train",  # not a component package
        "vaelab.runs.rundir.new_run_dir",
        "torch.optim._functional",  # private
        "torch.optim.Optimizer.zero_grad",  # not a class of the family
        "lightning.pytorch.callbacks.ModelCheckpoint.save_checkpoint",
        "antigravity.Thing",
        42,
    ],
)
def test_anything_else_is_refused_by_name(target):
    assert resolve_target(target) is None
    assert "antigravity" not in sys.modules  # refused before anything was imported


def test_refusal_names_the_target_and_where_it_sits():
    tree = {"model": {"_target_": "vaelab.model.VAE", "encoder": {"_args_": [[{"_target_": "os.system"}]]}}}
    with pytest.raises(
        RefusedTarget, match=r"^ckpt: refused to instantiate 'os.system' at model.encoder._args_\[0\]\[0\]"
    ):
        check(tree, "ckpt", trust=Trust())


def test_an_argument_the_class_does_not_take_is_named():
    cfg = OmegaConf.create({"_target_": "torch.optim.RMSprop", "_partial_": True, "lr": 0.1, "fused": True})
    with pytest.raises(
        ValueError, match=r"model.optimizer.fused: torch.optim.RMSprop takes no argument 'fused'; it takes .*alpha"
    ):
        instantiate(cfg, path="model.optimizer")
