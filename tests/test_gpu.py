"""Training on CUDA GPUs: trainer=gpu, bf16-mixed precision, the data kept on the device, DDP.

Every test here carries the `gpu` marker and is skipped, with the reason, on a machine without
the GPUs it needs (tests/helpers/run_if.py); on a GPU machine `pytest -m gpu` runs just these.
The runs are short (tests/conftest.py's TINY), through `vaelab.runs.train.train` as `train.py` calls
it; DDP, which starts processes of its own, runs `train.py` in a subprocess.

What the run did on the device is seen from inside, by wrapping VAESystem's hooks (`Probe`):
the module's device, the trainer's precision, the weights' dtype, the dtype autocast gave the
linear layers, and where each batch was before and after Lightning's transfer to the device.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from tests.conftest import ROOT
from tests.helpers.run_if import RunIf
from vaelab.system import VAESystem

try:  # the training run's module (vaelab.run before the package's layout moved it)
    from vaelab.runs.train import train
except ImportError:
    from vaelab.run import train

pytestmark = pytest.mark.gpu

CUDA0 = torch.device("cuda", 0)


class Probe:
    """Records what a training run did on its device, through VAESystem's hooks (monkeypatched
    for the test only)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.device: torch.device | None = None
        self.precision: str | None = None
        self.weight_dtypes: set[torch.dtype] = set()
        self.linear_output_dtypes: set[torch.dtype] = set()
        self.loader_devices: set[torch.device] = set()  # batches as the data module handed them out
        self.step_devices: set[torch.device] = set()  # batches as training_step received them
        self.train_split_device: torch.device | None = None
        probe = self

        fit_start = VAESystem.on_fit_start

        def on_fit_start(system: VAESystem) -> None:
            fit_start(system)
            probe.device = system.device
            probe.precision = str(system.trainer.precision)
            probe.weight_dtypes = {p.dtype for p in system.parameters()}
            for module in system.modules():
                if isinstance(module, nn.Linear):
                    module.register_forward_hook(lambda _m, _in, out: probe.linear_output_dtypes.add(out.dtype))

        def on_before_batch_transfer(system: VAESystem, batch, dataloader_idx: int):
            probe.loader_devices.add(batch[0].device)
            return batch

        step = VAESystem.training_step

        def training_step(system: VAESystem, batch, batch_idx: int):
            probe.step_devices.add(batch[0].device)
            splits = getattr(system.trainer.datamodule, "splits", {})
            if "train" in splits:
                probe.train_split_device = splits["train"][0].device
            return step(system, batch, batch_idx)

        monkeypatch.setattr(VAESystem, "on_fit_start", on_fit_start)
        monkeypatch.setattr(VAESystem, "on_before_batch_transfer", on_before_batch_transfer, raising=False)
        monkeypatch.setattr(VAESystem, "training_step", training_step)


def check_finished(run_dir: Path, metrics: dict) -> None:
    """The run ended as finished and every number it reports is finite."""
    assert json.loads((run_dir / "status.json").read_text()) == {"state": "finished"}
    numbers = {k: v for k, v in metrics.items() if isinstance(v, float)}
    assert any(k.startswith("val/") for k in numbers) and any(k.startswith("test/") for k in numbers), numbers
    not_finite = {k: v for k, v in numbers.items() if not math.isfinite(v)}
    assert not not_finite, not_finite
    assert json.loads((run_dir / "metrics.json").read_text()).keys() == metrics.keys()


def checkpoint_weights(metrics: dict) -> dict[str, torch.Tensor]:
    """The best checkpoint's weights, read on the CPU as vaelab reads checkpoints (weights_only)."""
    best = Path(metrics["best_checkpoint"])
    assert best.is_file(), best
    state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
    assert state and all(torch.isfinite(t).all() for t in state.values() if t.is_floating_point())
    return state


@RunIf(min_gpus=1)
def test_trainer_gpu_trains_on_the_gpu(cfg_factory, tmp_path, monkeypatch):
    probe = Probe(monkeypatch)
    cfg = cfg_factory("trainer=gpu")
    assert (cfg.trainer.accelerator, cfg.trainer.devices) == ("gpu", 1)

    metrics = train(cfg)

    check_finished(tmp_path / "run", metrics)
    assert probe.device == CUDA0
    assert probe.step_devices == {CUDA0}
    assert probe.precision == "32-true" and probe.weight_dtypes == {torch.float32}
    assert probe.linear_output_dtypes == {torch.float32}
    # A checkpoint written on the GPU is read on a machine without one.
    assert all(t.device.type == "cpu" for t in checkpoint_weights(metrics).values())


@RunIf(min_gpus=1, bf16=True)
def test_bf16_mixed_computes_in_bfloat16_and_keeps_float32_weights(cfg_factory, tmp_path, monkeypatch):
    probe = Probe(monkeypatch)

    metrics = train(cfg_factory("trainer=gpu", "trainer.precision=bf16-mixed"))

    check_finished(tmp_path / "run", metrics)
    assert probe.device == CUDA0 and probe.precision == "bf16-mixed"
    # Mixed precision: autocast runs the matrix products in bfloat16, the weights (and the
    # optimiser's updates) stay float32, and so does what the checkpoint keeps.
    assert torch.bfloat16 in probe.linear_output_dtypes
    assert probe.weight_dtypes == {torch.float32}
    assert {t.dtype for t in checkpoint_weights(metrics).values() if t.is_floating_point()} == {torch.float32}


@RunIf(min_gpus=1)
@pytest.mark.parametrize("on_device", [True, False], ids=["on_device", "on_host"])
def test_data_on_device_hands_out_batches_already_on_the_gpu(cfg_factory, tmp_path, monkeypatch, on_device):
    probe = Probe(monkeypatch)

    metrics = train(cfg_factory("trainer=gpu", f"data.on_device={str(on_device).lower()}"))

    check_finished(tmp_path / "run", metrics)
    # Either way the model sees its batches on the GPU ...
    assert probe.step_devices == {CUDA0}
    if on_device:
        # ... with data.on_device=true the split lives there and each batch is gathered there:
        # the loader hands out CUDA tensors, Lightning has nothing to copy.
        assert probe.train_split_device == CUDA0
        assert probe.loader_devices == {CUDA0}
    else:
        # ... without it, batches leave the loader on the host and Lightning copies each one.
        assert probe.train_split_device == torch.device("cpu")
        assert probe.loader_devices == {torch.device("cpu")}


TINY_DDP = [
    "data=digits",
    "logger=none",
    "trainer=ddp",
    "trainer.devices=2",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=3",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "trainer.enable_model_summary=false",
    "eval.num_samples=2",
    "model.latent_dim=4",
    "++callbacks.rich_progress_bar=null",
    "callbacks.images=null",
]


@RunIf(min_gpus=2)
def test_ddp_on_two_gpus_trains_over_nccl(tmp_path):
    env = {**os.environ, "WANDB_MODE": "offline"}
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "train.py", f"paths.log_dir={tmp_path / 'logs'}", f"hydra.run.dir={run_dir}", *TINY_DDP]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    # Lightning's DDP start: one process per GPU, over NCCL.
    assert "Starting with 2 processes" in output, output[-3000:]
    assert "distributed_backend=nccl" in output, output[-3000:]
    assert "GPU available: True (cuda)" in output
    check_finished(run_dir, json.loads((run_dir / "metrics.json").read_text()))
