"""trainer.steps_per_execution: K optimiser steps per Lightning step train the same run as one.

The same weights to the bit, the same logged values at the same optimiser steps, max_steps inside
a hand-out, an exact resume, and one line for what it cannot run with.
"""

from __future__ import annotations

import csv
import json
import math

import pytest
import torch

from tests.conftest import DIVERGING, compose_config
from tests.helpers.apps import compose_app
from tests.helpers.refusals import refusal
from tests.runs.test_compiled import SMALL, weights
from vaelab.cli.evaluate import evaluate
from vaelab.errors import ConfigError
from vaelab.runs.checkpoint import read_checkpoint
from vaelab.runs.train import train

# Two epochs of 21 batches (the last of 14 rows) on digits, dynamically binarised, under a KL
# warm-up; validation every epoch; values logged every 3 steps (K = 4 does not divide it) to a CSV file.
RUN = [
    *[o for o in SMALL if not o.startswith(("trainer.limit_", "trainer.log_every", "logger="))],
    "trainer.max_epochs=2",
    "trainer.limit_val_batches=1",
    "trainer.log_every_n_steps=3",
    "logger=csv",
]


def fit(tmp_path, name: str, *overrides: str):
    train(compose_config(tmp_path / name, *RUN, *overrides))
    return tmp_path / name / "run"


def logged(run) -> dict[str, list[tuple[int, float]]]:
    """Every value the CSV logger recorded: {name: [(step, value), ...]}."""
    (path,) = run.rglob("metrics.csv")
    values: dict[str, list[tuple[int, float]]] = {}
    for row in csv.DictReader(path.open()):
        for name, value in row.items():
            if name not in ("step", "epoch") and value != "":
                values.setdefault(name, []).append((int(row["step"]), float(value)))
    return values


def assert_same_weights(a, b) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_eight_steps_per_lightning_step_train_and_log_as_one(tmp_path):
    """21 batches an epoch: the multiples of 8 cut epoch 0 into 3 hand-outs and epoch 1 into 4, so
    the loader splits one of epoch 0's (Lightning counts hand-outs once and would end epoch 1 early)."""
    tested = ["test=true", "eval.num_samples=2"]
    one, eight = fit(tmp_path, "one", *tested), fit(tmp_path, "eight", *tested, "trainer.steps_per_execution=8")
    metrics = json.loads((eight / "metrics.json").read_text())
    assert "step" not in metrics and metrics["test/elbo"] == json.loads((one / "metrics.json").read_text())["test/elbo"]
    assert read_checkpoint(eight / "checkpoints" / "last.ckpt")["global_step"] == 42
    assert_same_weights(weights(eight), weights(one))
    logged_one, logged_eight = logged(one), logged(eight)
    assert logged_eight.keys() == logged_one.keys()
    for name in logged_one:
        if name.startswith("val/"):  # Lightning labels them one step less with one step per batch
            assert logged_eight[name] == [(s + 1, v) for s, v in logged_one[name]], name
        elif name != "train/images_per_s":  # a time
            assert logged_eight[name] == logged_one[name], name
    assert [s for s, _ in logged_one["train/loss"]] == [2, 5, 8, 11, 14, 17, 20, 23, 26, 29, 32, 35, 38, 41]
    assert [s for s, _ in logged_eight["val/elbo"]] == [21, 42]


def test_a_resume_from_a_step_checkpoint_inside_an_epoch_goes_on_exactly(tmp_path):
    """Hand-outs end at multiples of K steps across epochs (epoch 1 starts at step 21), so the
    checkpoint every 8 steps is there at step 24, inside epoch 1; resumed, it trains the run of K = 1."""
    every = ["callbacks.step_checkpoint.every_n_train_steps=8", "callbacks.step_checkpoint.save_top_k=-1"]
    every.append("+callbacks.step_checkpoint.filename='s{step}'")
    first = fit(tmp_path, "first", "trainer.steps_per_execution=4", *every)
    saved = sorted(p.name for p in (first / "checkpoints").glob("s*.ckpt"))
    assert saved == [f"sstep={n}.ckpt" for n in (16, 24, 32, 40, 8)]
    resumed = fit(
        tmp_path,
        "resumed",
        "trainer.steps_per_execution=4",
        *every,
        f"ckpt_path='{first / 'checkpoints' / 'sstep=24.ckpt'}'",
    )
    assert_same_weights(weights(resumed), weights(fit(tmp_path, "one")))


def test_max_steps_inside_a_hand_out_stops_and_resumes_as_with_one_step(tmp_path):
    """Lightning ends the epoch at max_steps; a resume with a later max_steps starts the next one."""
    runs = {}
    for k in (1, 4):
        once = [f"paths.output_dir={tmp_path / str(k)}", f"trainer.steps_per_execution={k}"]
        train(compose_config(tmp_path, *RUN, *once, "trainer.max_steps=10"))
        assert read_checkpoint(tmp_path / str(k) / "checkpoints" / "last.ckpt")["global_step"] == 10
        train(compose_config(tmp_path, *RUN, *once, "trainer.max_steps=30", "ckpt_path=last"))
        runs[k] = weights(tmp_path / str(k))
    assert_same_weights(runs[4], runs[1])


def test_several_steps_compile_to_the_same_numbers(tmp_path):
    one = fit(tmp_path, "one", "trainer.compile=eager")
    four = fit(tmp_path, "four", "trainer.compile=eager", "trainer.steps_per_execution=4")
    assert_same_weights(weights(four), weights(one))


@pytest.mark.parametrize(
    "overrides, said",
    [
        (["trainer.steps_per_execution=0"], "trainer.steps_per_execution=0: must be >= 1"),
        (
            ["trainer.steps_per_execution=4", "trainer.val_check_interval=600"],
            "trainer.val_check_interval=600: a count of batches is not supported with trainer.steps_per_execution=4",
        ),
        (
            ["trainer.steps_per_execution=4", "trainer.limit_train_batches=0.5"],
            "trainer.limit_train_batches=0.5: part of an epoch is not supported with trainer.steps_per_execution=4",
        ),
        (
            ["trainer.steps_per_execution=8", "callbacks.step_checkpoint.every_n_train_steps=100"],
            "callbacks.step_checkpoint.every_n_train_steps=100 must be a multiple of trainer.steps_per_execution=8",
        ),
        (
            ["trainer.steps_per_execution=2", "objective=factor_vae"],
            "trainer.steps_per_execution=2 is not supported with objective=factor_vae",
        ),
        (
            ["trainer.steps_per_execution=2", "trainer.gradient_clip_val=1.0"],
            "trainer.steps_per_execution=2 has no gradient clipping (manual optimisation): set trainer.gradient_clip_val=null",
        ),
        (
            ["trainer.steps_per_execution=2", "scheduler=cosine"],
            "trainer.steps_per_execution=2 steps no learning-rate scheduler",
        ),
    ],
)
def test_what_several_steps_cannot_run_with_is_one_line_before_any_work(cfg_factory, overrides, said):
    message = refusal(cfg_factory(*overrides))
    assert said in message, message


def test_a_resume_keeps_the_steps_per_execution(tmp_path):
    """Lightning counts global_step apart under manual and automatic optimisation: K is fixed by
    the checkpoint (a checkpoint from before the setting ran with 1: tests/runs/test_formats.py)."""
    once = [f"paths.output_dir={tmp_path / 'run'}", "trainer.max_epochs=1"]
    train(compose_config(tmp_path, *RUN, *once, "trainer.steps_per_execution=4"))
    with pytest.raises(
        ConfigError,
        match=r"trainer.steps_per_execution=2 differs from the checkpoint's run \(trainer.steps_per_execution=4\)",
    ):
        train(compose_config(tmp_path, *RUN, *once, "trainer.steps_per_execution=2", "ckpt_path=last"))


def test_a_non_finite_loss_is_named_at_the_same_step_as_with_one(cfg_factory):
    with pytest.raises(FloatingPointError) as one:
        train(cfg_factory(*DIVERGING))
    with pytest.raises(FloatingPointError) as four:
        train(cfg_factory(*DIVERGING, "trainer.steps_per_execution=4"))
    named = str(one.value).split(";")[0]
    assert named.startswith("step ") and "is not finite" in named
    assert str(four.value).split(";")[0] == named


def test_a_checkpoint_of_several_steps_evaluates(tmp_path):
    """vaelab-eval builds the checkpoint's trainer without vaelab's `steps_per_execution`."""
    run = fit(tmp_path, "four", "trainer.steps_per_execution=4", "trainer.max_epochs=1")
    ckpt = run / "checkpoints" / "last.ckpt"
    metrics = evaluate(compose_app("eval", f"ckpt_path={ckpt}", "eval.num_samples=2", output_dir=tmp_path / "eval"))
    assert math.isfinite(metrics["test/elbo"]) and "step" not in metrics
