"""Optimisers (conf/optimizer) and learning-rate schedulers (conf/scheduler) as a researcher uses
them: each trains in-process, the checkpoint holds the configured optimiser, and the learning
rate that Lightning's LearningRateMonitor logged follows each scheduler's closed form, also
across a resume."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from tests.conftest import CONF
from vaelab.lr_schedulers import WarmupCosine
from vaelab.runs.train import train

# Small and quick: no test pass, no image grids, a tiny MLP; the lr logged at every step in CSV.
FAST = ("test=false", "callbacks.images=null", "model.encoder.hidden=[16]")
CSV = ("logger=csv", "trainer.log_every_n_steps=1")
STEPS_PER_EPOCH = 3  # conftest's TINY: trainer.limit_train_batches=3
LR0 = 1e-3  # every conf/optimizer file's lr but sgd's

OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}


def run_dir(cfg) -> Path:
    return Path(cfg.paths.output_dir)


def logged(cfg) -> tuple[dict[int, float], dict[int, float]]:
    """({global step: lr used from that step}, {epoch: val/loss}) from the run's csv/metrics.csv."""
    with open(run_dir(cfg) / "csv" / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    (lr_key,) = [k for k in rows[0] if k.startswith("lr-")]
    lrs = {int(r["step"]): float(r[lr_key]) for r in rows if r[lr_key]}
    val = {int(r["epoch"]): float(r["val/loss"]) for r in rows if r["val/loss"]}
    return lrs, val


def per_epoch(lrs: dict[int, float]) -> list[float]:
    """The lr of each epoch, logged at its first step (epoch-interval schedulers)."""
    assert sorted(lrs) == list(range(0, STEPS_PER_EPOCH * len(lrs), STEPS_PER_EPOCH))
    return [lrs[s] for s in sorted(lrs)]


# ----------------------------------------------------------------- optimisers


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_each_optimizer_trains_and_is_the_one_in_the_checkpoint(cfg_factory, name):
    # What the file says, read independently of the composed config, with one override on top.
    file = OmegaConf.to_container(OmegaConf.load(CONF / "optimizer" / f"{name}.yaml"))
    kwargs = {k: v for k, v in file.items() if not k.startswith("_")} | {"lr": 0.002}
    cfg = cfg_factory(f"optimizer={name}", "optimizer.lr=0.002", *FAST)
    metrics = train(cfg)
    assert math.isfinite(metrics["val/loss"])

    checkpoint = torch.load(run_dir(cfg) / "checkpoints" / "last.ckpt", weights_only=True)
    (saved,) = checkpoint["optimizer_states"]
    # The same class built by hand with those hyperparameters, one step taken: its hyperparameters
    # (fused/foreach included) and the names of its per-parameter state are the checkpoint's.
    param = torch.zeros(3, requires_grad=True)
    reference = OPTIMIZERS[name]([param], **kwargs)
    param.grad = torch.ones(3)
    reference.step()
    (group,) = saved["param_groups"]
    (expected,) = reference.state_dict()["param_groups"]
    assert {k: v for k, v in group.items() if k != "params"} == {k: v for k, v in expected.items() if k != "params"}
    assert {tuple(sorted(s)) for s in saved["state"].values()} == {tuple(sorted(reference.state[param]))}
    assert group["lr"] == 0.002 and checkpoint["global_step"] == STEPS_PER_EPOCH


def test_rmsprop_takes_foreach_and_refuses_fused_in_one_line(cfg_factory):
    cfg = cfg_factory("optimizer=rmsprop", *FAST)
    assert cfg.optimizer.foreach is True and "fused" not in cfg.optimizer
    assert OmegaConf.to_container(cfg.model.optimizer, resolve=True) == OmegaConf.to_container(cfg.optimizer)

    cfg = cfg_factory("optimizer=rmsprop", "+optimizer.fused=true", *FAST)
    with pytest.raises(ValueError) as refused:
        train(cfg)
    line = str(refused.value)
    assert "\n" not in line
    assert line.startswith("optimizer.fused: no such setting; torch.optim.RMSprop takes ")
    assert "foreach" in line  # what it does take
    # Refused before anything ran: only the run's status, which says why.
    assert [p.name for p in run_dir(cfg).iterdir()] == ["status.json"]


# ----------------------------------------------------------------- schedulers


def test_cosine_follows_its_closed_form_per_epoch(cfg_factory):
    epochs, eta_min = 4, 1e-4
    cfg = cfg_factory(
        "scheduler=cosine", f"scheduler.scheduler.eta_min={eta_min}", f"trainer.max_epochs={epochs}", *FAST, *CSV
    )
    assert cfg.model.scheduler.scheduler.T_max == epochs  # the whole run by default
    train(cfg)
    lrs, _ = logged(cfg)
    expected = [eta_min + (LR0 - eta_min) * (1 + math.cos(math.pi * t / epochs)) / 2 for t in range(epochs)]
    assert per_epoch(lrs) == pytest.approx(expected, rel=1e-9)


def test_step_decays_by_gamma_every_step_size_epochs(cfg_factory):
    cfg = cfg_factory("scheduler=step", "scheduler.scheduler.step_size=2", "trainer.max_epochs=5", *FAST, *CSV)
    train(cfg)
    lrs, _ = logged(cfg)
    assert per_epoch(lrs) == pytest.approx([LR0 * 0.1 ** (t // 2) for t in range(5)], rel=1e-9)


def test_warmup_cosine_follows_its_closed_form_per_step_over_the_whole_run(cfg_factory):
    warmup, epochs = 4, 4
    total = epochs * STEPS_PER_EPOCH  # total_steps: null -> the trainer's count of optimiser steps
    cfg = cfg_factory(
        "scheduler=warmup_cosine",
        f"scheduler.scheduler.warmup_steps={warmup}",
        f"trainer.max_epochs={epochs}",
        *FAST,
        *CSV,
    )
    train(cfg)
    lrs, _ = logged(cfg)

    def lr(t: int) -> float:
        if t < warmup:
            return LR0 * t / warmup
        return LR0 * (1 + math.cos(math.pi * (t - warmup) / (total - warmup))) / 2

    assert sorted(lrs) == list(range(total))
    assert [lrs[t] for t in range(total)] == pytest.approx([lr(t) for t in range(total)], rel=1e-9, abs=1e-15)
    (state,) = torch.load(run_dir(cfg) / "checkpoints" / "last.ckpt", weights_only=True)["lr_schedulers"]
    assert (state["warmup_steps"], state["total_steps"]) == (warmup, total)


def test_warmup_cosine_reaches_eta_min_and_refuses_a_bad_length():
    param = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([param], lr=0.5)
    schedule = WarmupCosine(optimizer, warmup_steps=0, total_steps=4, eta_min=0.1)
    seen = []
    for _ in range(6):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    half = 0.1 + 0.4 * (1 + math.cos(math.pi / 4)) / 2
    assert seen == pytest.approx([0.5, half, 0.3, 0.1 + 0.4 - (half - 0.1), 0.1, 0.1])
    for warmup, total in [(4, 4), (0, None), (-1, 3)]:
        with pytest.raises(ValueError, match="0 <= warmup_steps < total_steps"):
            WarmupCosine(torch.optim.SGD([param], lr=0.5), warmup_steps=warmup, total_steps=total)


def test_plateau_halves_the_lr_when_the_monitored_metric_stops_improving(cfg_factory):
    # mode=max on a loss that falls: every epoch is "no improvement", so with patience 0 the lr
    # halves; the replay below follows whatever val/loss did, epoch by epoch.
    epochs, factor, threshold = 4, 0.5, 1e-4
    cfg = cfg_factory(
        "scheduler=plateau",
        "scheduler.scheduler.mode=max",
        "scheduler.scheduler.patience=0",
        f"trainer.max_epochs={epochs}",
        *FAST,
        *CSV,
    )
    assert cfg.model.scheduler.monitor == "val/loss"
    train(cfg)
    lrs, val = logged(cfg)
    got = per_epoch(lrs)
    # ReduceLROnPlateau's rule (rel threshold, max mode, no cooldown), from the logged metric.
    best, lr, expected = -math.inf, LR0, []
    for epoch in range(epochs):
        expected.append(lr)
        if val[epoch] > best * (1 + threshold):
            best = val[epoch]
        else:
            lr *= factor  # more than patience=0 bad epochs
    assert got == pytest.approx(expected, rel=1e-9)
    assert min(got) < LR0  # the rule was exercised


def test_lr_monitor_comes_with_a_scheduler_and_goes_without_a_logger(cfg_factory):
    assert "lr_monitor" not in cfg_factory("logger=csv").callbacks  # scheduler=none: a constant lr
    assert cfg_factory("scheduler=step", "logger=csv").callbacks.lr_monitor.logging_interval is None
    assert cfg_factory("scheduler=step").callbacks.lr_monitor is None  # TINY: logger=none
    assert cfg_factory("scheduler=step", "logger=csv", "debug=fast").callbacks.lr_monitor is None


def test_a_resumed_run_continues_the_schedule_exactly(cfg_factory, tmp_path):
    common = ("scheduler=cosine", "scheduler.scheduler.T_max=4", *FAST, *CSV)
    straight = cfg_factory(*common, "trainer.max_epochs=4", f"paths.output_dir={tmp_path / 'straight'}")
    expected = train(straight)
    first = cfg_factory(*common, "trainer.max_epochs=2", f"paths.output_dir={tmp_path / 'first'}")
    train(first)
    last = run_dir(first) / "checkpoints" / "last.ckpt"
    resumed = cfg_factory(
        *common, "trainer.max_epochs=4", f"ckpt_path={last}", f"paths.output_dir={tmp_path / 'resumed'}"
    )
    got = train(resumed)

    lrs, _ = logged(straight)
    again, _ = logged(resumed)
    assert sorted(again) == [2 * STEPS_PER_EPOCH, 3 * STEPS_PER_EPOCH]  # epochs 2 and 3
    assert [again[s] for s in sorted(again)] == pytest.approx([lrs[s] for s in sorted(again)], rel=1e-12)
    assert again[3 * STEPS_PER_EPOCH] == pytest.approx(LR0 * (1 + math.cos(3 * math.pi / 4)) / 2, rel=1e-9)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-6), key


def test_a_resume_cannot_stretch_a_cosine_schedule_it_has_already_run(cfg_factory):
    # T_max follows trainer.max_epochs, but the scheduler's state comes from the checkpoint:
    # a longer resumed run would decay to 0 at the old end and climb back, unlike its record.
    first = cfg_factory("scheduler=cosine", "trainer.max_epochs=2")
    train(first)
    last = Path(first.paths.output_dir) / "checkpoints" / "last.ckpt"
    with pytest.raises(ValueError, match=r"scheduler.scheduler.T_max=4 differs from the checkpoint's run"):
        train(cfg_factory("scheduler=cosine", "trainer.max_epochs=4", f"ckpt_path={last}"))
