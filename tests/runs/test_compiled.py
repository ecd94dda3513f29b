"""trainer.compile: the same numbers as eager, checkpoints either way round, one line for what it refuses.

The plumbing tests compile with torch.compile's "eager" backend (dynamo traces the step, torch runs
the graph op by op: the same numbers to the bit, no C++ compiler) or "aot_eager" (with AOTAutograd's
joint graph). Two tests, `slow`, compile with inductor, as `trainer.compile=true` does: one against
eager's numbers, one under DDP.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch._dynamo.utils import counters

from tests.conftest import compose_config
from tests.helpers.apps import compose_app
from tests.helpers.refusals import refusal
from vaelab.cli.evaluate import evaluate
from vaelab.runs.checkpoint import read_checkpoint
from vaelab.runs.train import train

# A tiny MLP on digits (8x8), a KL warm-up so that the KL weight changes every step, no validation.
SMALL = [
    "data=digits",
    "trainer=cpu",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=6",
    "trainer.limit_val_batches=0",
    "test=false",
    "trainer.enable_model_summary=false",
    "trainer.enable_progress_bar=false",
    "trainer.log_every_n_steps=1",
    "logger=none",
    "++callbacks.rich_progress_bar=null",
    "callbacks.images=null",
    "model.latent_dim=4",
    "model.encoder.hidden=[32]",
    "kl_schedule=linear",
    "kl_schedule.steps=10",
]


def weights(run) -> dict[str, torch.Tensor]:
    return read_checkpoint(run / "checkpoints" / "last.ckpt")["state_dict"]


def fit(tmp_path, name: str, *overrides: str) -> tuple[dict, dict[str, torch.Tensor]]:
    cfg = compose_config(tmp_path / name, *SMALL, *overrides)
    train(cfg)
    run = tmp_path / name / "run"
    return json.loads((run / "metrics.json").read_text()), weights(run)


def assert_close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], rtol: float) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=rtol, atol=rtol, msg=key)


def test_a_compiled_step_trains_the_same_weights_under_a_warm_up_without_recompiling(tmp_path):
    _, eager = fit(tmp_path, "eager")
    counters.clear()
    metrics, compiled = fit(tmp_path, "compiled", "trainer.compile=eager")
    # One graph for the 6 steps, whose KL weight changed every step: no break, no recompile.
    assert counters["frames"]["ok"] == 1 and not counters["graph_break"], dict(counters)
    assert metrics["train/compile_seconds"] > 0
    assert not any("_orig_mod" in key for key in compiled)
    assert_close(compiled, eager, rtol=1e-6)


@pytest.mark.parametrize("objective", [["objective=dip_vae"], ["objective=iwae", "objective.estimator=dreg"]])
def test_other_compilable_objectives_train_the_same_weights(tmp_path, objective):
    """Through AOTAutograd ("aot_eager": the joint forward and backward graph, run op by op);
    DReG's torch.autograd.grad inside the loss breaks its graph, the numbers stay."""
    _, eager = fit(tmp_path, "eager", *objective)
    _, compiled = fit(tmp_path, "compiled", *objective, "trainer.compile=aot_eager")
    assert_close(compiled, eager, rtol=1e-6)


def test_a_compiled_runs_checkpoint_evaluates(tmp_path):
    """vaelab-eval builds the checkpoint's trainer without vaelab's `compile` (Lightning has none),
    and without a progress bar for a run that had none (Lightning refuses a bar callback then)."""
    fit(tmp_path, "compiled", "trainer.compile=eager")
    ckpt = tmp_path / "compiled" / "run" / "checkpoints" / "last.ckpt"
    metrics = evaluate(compose_app("eval", f"ckpt_path={ckpt}", "eval.num_samples=2", output_dir=tmp_path / "eval"))
    assert math.isfinite(metrics["test/elbo"])


@pytest.mark.parametrize("first, then", [("eager", "false"), ("false", "eager")])
def test_a_checkpoint_resumes_with_compile_switched(tmp_path, first, then):
    """Saved with compile on resumes with it off, and back: the same keys, the same run."""
    once = [f"paths.output_dir={tmp_path / 'run'}"]
    compose = lambda *o: compose_config(tmp_path, *SMALL, *once, *o)  # noqa: E731
    train(compose(f"trainer.compile={first}"))
    train(compose(f"trainer.compile={then}", "trainer.max_epochs=2", "ckpt_path=last"))
    resumed = weights(tmp_path / "run")
    assert read_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")["global_step"] == 12
    _, straight = fit(tmp_path, "straight", "trainer.max_epochs=2")
    assert_close(resumed, straight, rtol=1e-6)


@pytest.mark.parametrize(
    "overrides, said",
    [
        (
            ["trainer.compile=fast"],
            "trainer.compile='fast': must be true, false or a torch.compile backend: 'inductor'",
        ),
        (
            ["trainer.compile=true", "objective=factor_vae"],
            "trainer.compile=True: objective vaelab.objectives.factor_vae.FactorVAE cannot be compiled",
        ),
    ],
)
def test_what_compile_cannot_do_is_one_line_before_any_work(cfg_factory, overrides, said):
    assert said in refusal(cfg_factory(*overrides))


@pytest.mark.slow
def test_inductor_trains_the_same_numbers_as_eager(tmp_path):
    """trainer.compile=true: C++ kernels from inductor, within float32 rounding of eager. Inductor
    draws its own random numbers unless told to use torch's (fallback_random): the same noise."""
    _, eager = fit(tmp_path, "eager")
    with torch._inductor.config.patch(fallback_random=True):
        metrics, compiled = fit(tmp_path, "compiled", "trainer.compile=true")
    assert metrics["train/compile_seconds"] > 0
    assert_close(compiled, eager, rtol=1e-4)
