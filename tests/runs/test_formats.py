"""Checkpoints of older formats are migrated in one place (vaelab.runs.formats) and keep working."""

from __future__ import annotations

import torch

from tests.conftest import TINY, compose_config
from tests.helpers import FORMAT1_CHECKPOINT, OLD_CHECKPOINT
from vaelab.runs.checkpoint import load_model, read_checkpoint
from vaelab.runs.formats import FORMAT, format_of, migrate
from vaelab.runs.train import train


def test_each_format_is_recognised_and_migrated_to_today():
    for path, version in ((OLD_CHECKPOINT, 0), (FORMAT1_CHECKPOINT, 1)):
        raw = torch.load(path, weights_only=True)
        assert format_of(raw) == version
        migrate(raw)
        assert format_of(raw) == FORMAT and all(k.startswith("vae.") for k in raw["state_dict"])
    migrated = read_checkpoint(FORMAT1_CHECKPOINT)
    again = {k: v.clone() for k, v in migrated["state_dict"].items()}
    migrate(migrated)  # today's format: nothing to do
    assert migrated["state_dict"].keys() == again.keys()


def test_a_format_1_checkpoint_evaluates_with_the_same_weights():
    system, _, _ = load_model(FORMAT1_CHECKPOINT)
    raw = torch.load(FORMAT1_CHECKPOINT, weights_only=True)["state_dict"]
    torch.testing.assert_close(system.vae.decoder.out.weight, raw["model.decoder.out.weight"])


def test_a_format_1_checkpoint_resumes(tmp_path):
    # Lightning's own restore goes through VAESystem.on_load_checkpoint, which migrates it.
    cfg = compose_config(
        tmp_path,
        *TINY,
        "data=digits",
        "model.latent_dim=2",
        "model.encoder.hidden=[16]",
        "eval.num_samples=4",
        "trainer.max_epochs=2",
        "trainer.limit_train_batches=null",
        "trainer.limit_val_batches=null",
        "trainer.limit_test_batches=null",
        f"ckpt_path={FORMAT1_CHECKPOINT}",
    )
    metrics = train(cfg)
    saved = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    before = torch.load(FORMAT1_CHECKPOINT, weights_only=True)["global_step"]
    assert saved["vaelab"]["format"] == FORMAT and saved["global_step"] == 2 * before  # one more epoch
    assert metrics["test/nll"] > 0
