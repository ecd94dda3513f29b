"""Every setting's type and range, checked before any work: one line naming the setting, the
bad value and what is allowed. In-process: the same `train()` that train.py calls."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vaelab.config.schema import ConfigError, validate
from vaelab.runs.train import train


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["objective.beta=abc"], "objective.beta='abc': must be a number"),
        (["optimizer.lr=abc"], "optimizer.lr='abc': must be a number"),
        (["data.batch_size=abc"], "data.batch_size='abc': must be a whole number"),
        (["seed=abc"], "seed='abc': must be a whole number"),
        (["model.latent_dim=2.5"], "model.latent_dim=2.5: must be a whole number"),
        (["trainer.max_epochs=abc"], "trainer.max_epochs='abc': must be a whole number"),
        (["objective.beta=inf"], "objective.beta=inf: must be a finite number"),
        (["likelihood=gaussian", "likelihood.scale=inf"], "likelihood.scale=inf: must be a finite number"),
        (["data.batch_size=2.5"], "data.batch_size=2.5: must be a whole number"),
        (["seed=2.5"], "seed=2.5: must be a whole number"),
        (["data.val_size=1.5"], "data.val_size=1.5: must be a count >= 1 or a fraction in (0, 1)"),
        (["kl_schedule=linear", "kl_schedule.steps=-10"], "kl_schedule.steps=-10: must be >= 0"),
        (["eval.active_threshold=-1"], "eval.active_threshold=-1: must be >= 0"),
        (["eval.min_active_share=5"], "eval.min_active_share=5: must be <= 1"),
        (["seed=-1"], "seed=-1: must be >= 0"),
        (["objective.beta=-1"], "objective.beta=-1: must be >= 0"),
        (["model.latent_dim=0"], "model.latent_dim=0: must be >= 1"),
        (["optimizer.lr=0"], "optimizer.lr=0: must be > 0"),
        (["data.batch_size=0"], "data.batch_size=0: must be >= 1"),
        (["data.binarize=maybe"], "data.binarize='maybe': must be one of 'none', 'static' or 'dynamic'"),
        (["likelihood=gaussian", "likelihood.scale=0"], "likelihood.scale=0: must be > 0"),
        (["eval.num_samples=0"], "eval.num_samples=0: must be >= 1"),
        (["trainer.limit_train_batches=abc"], "trainer.limit_train_batches='abc': must be a number of batches"),
        (["trainer.accelerator=gpu"], "trainer.accelerator='gpu': no CUDA GPU is available on this machine"),
        (["+objective.betaa=3"], "objective.betaa: no such setting; did you mean objective.beta?"),
        (["model=conv", "model.encoder.channels=[]"], "model.encoder.channels=[]: must have at least 1 entries"),
        (["data.eval_batch_size=0"], "data.eval_batch_size=0: must be >= 1"),
        (["likelihood=gaussian", "likelihood.scale=-0.5"], "likelihood.scale=-0.5: must be > 0"),
        (["likelihood=gaussian", "likelihood.scale=nan"], "likelihood.scale=nan: must be a finite number"),
        (["likelihood=laplace", "likelihood.scale=-1"], "likelihood.scale=-1: must be > 0"),
        (["likelihood=gaussian_learned", "likelihood.min_scale=0"], "likelihood.min_scale=0: must be > 0"),
        (
            ["trainer.precision=bogus"],
            "trainer.precision='bogus': must be one of 'transformer-engine', 'transformer-engine-float16', "
            "'16-true', '16-mixed', 'bf16-true', 'bf16-mixed', '32-true', '64-true' (or the short forms 64, 32, 16,",
        ),
        (["trainer.precision=8"], "trainer.precision=8: must be one of 'transformer-engine'"),
        (["~objective"], "objective: no objective is chosen; choose one with objective=NAME: beta_tcvae, capacity"),
    ],
)
def test_bad_values_are_one_line_before_any_work(cfg_factory, tmp_path, overrides, message):
    cfg = cfg_factory(*overrides)
    with pytest.raises(ConfigError) as raised:
        train(cfg)
    text = str(raised.value)
    assert message in text and "\n" not in text
    # One bad value, one message: an interpolated copy (model.likelihood, model.num_iw_samples) is not repeated.
    assert text.count(message.split(":")[0] + ":") == 1
    assert not list(Path(tmp_path).glob("**/*.ckpt")) and not (Path(cfg.paths.output_dir) / "config.yaml").exists()


@pytest.fixture
def sources(tmp_path):
    """Real files for the sources that need them: an image folder and a .npy array."""
    images = tmp_path / "images"
    images.mkdir()
    for i in range(4):
        Image.new("RGB", (8, 8), (60 * i, 0, 0)).save(images / f"{i}.png")
    np.save(tmp_path / "x.npy", np.zeros((10, 4), np.float32))
    return {
        "folder": ["data=folder", f"data.root={images}", "data.image_size=8"],
        "array": ["data=array", f"data.path={tmp_path / 'x.npy'}"],
    }


@pytest.mark.parametrize(
    "source, overrides, message",
    [
        ("folder", ["data.channels=2"], "data.channels=2: must be one of 1 or 3"),
        ("folder", ["data.channels=4"], "data.channels=4: must be one of 1 or 3"),
        ("folder", ["data.image_size=0"], "data.image_size=0: must be >= 1"),
        ("folder", ["data.image_size=big"], "data.image_size='big': must be a whole number"),
        ("array", ["data.scale=0"], "data.scale=0: must be > 0"),
        ("array", ["data.scale=-255"], "data.scale=-255: must be > 0"),
    ],
)
def test_bad_source_settings_are_one_line_before_any_work(cfg_factory, sources, tmp_path, source, overrides, message):
    """Sources whose config reads real files: the files are fine, only the setting is not."""
    validate(cfg_factory(*sources[source]))  # the same source, with good settings, passes
    cfg = cfg_factory(*sources[source], *overrides)
    with pytest.raises(ConfigError) as raised:
        train(cfg)
    text = str(raised.value)
    assert message in text and "\n" not in text
    assert text.count(message.split(":")[0] + ":") == 1
    assert not list(Path(tmp_path).glob("**/*.ckpt")) and not (Path(cfg.paths.output_dir) / "config.yaml").exists()


@pytest.mark.parametrize(
    "group", ["model=conv", "likelihood=gaussian_learned", "data=fashion_mnist", "debug=fast", "trainer=ddp_cpu"]
)
def test_the_shipped_configs_pass(cfg_factory, group):
    validate(cfg_factory(group))


def test_several_problems_are_named_together(cfg_factory):
    with pytest.raises(ConfigError, match=r"seed=-1: must be >= 0; objective.beta=-1: must be >= 0"):
        validate(cfg_factory("objective.beta=-1", "seed=-1"))


def test_the_precisions_are_lightnings():
    """vaelab's list of trainer.precision values is the installed Lightning's: its connector's
    Literal types (private, read here only to catch a Lightning that changed them)."""
    import typing

    from lightning.fabric import connector

    from vaelab.config.schema import PRECISION_SHORT, PRECISIONS

    def values(kind):  # the values of a Literal, or of a Union of them
        return [v for a in typing.get_args(kind) for v in (values(a) if typing.get_args(a) else [a])]

    assert sorted(map(str, PRECISIONS + PRECISION_SHORT)) == sorted(map(str, values(connector._PRECISION_INPUT)))
    assert len(PRECISIONS + PRECISION_SHORT) == len(values(connector._PRECISION_INPUT))
