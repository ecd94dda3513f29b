"""The worked plugin in examples/plugin (vaelab-resmlp): its parts in-process, and, installed for
real into a folder of its own, everything a user does with it in subprocesses.

The unit tests import the plugin from its source folder; the end-to-end test installs it with
`pip install --target` into a temporary folder put on PYTHONPATH, so the project's virtualenv is
never changed, and runs train.py (with a SIGKILL and a resume), vaelab-eval, vaelab-sample, a
sweep and vaelab-compare, then refuses its checkpoint where the plugin is not installed.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import ROOT
from tests.helpers import warm
from vaelab.config.components import node_errors
from vaelab.errors import RefusedTarget
from vaelab.runs.checkpoint import load_model

PLUGIN = ROOT / "examples" / "plugin"
BIN = Path(sys.executable).parent  # the console scripts vaelab-eval, vaelab-sample, vaelab-compare


@pytest.fixture
def plugin(monkeypatch):
    """The plugin's import package, from its source folder; gone from sys.modules afterwards."""
    monkeypatch.syspath_prepend(str(PLUGIN / "src"))
    import vaelab_resmlp

    yield vaelab_resmlp
    for name in [n for n in sys.modules if n == "vaelab_resmlp" or n.startswith("vaelab_resmlp.")]:
        del sys.modules[name]


def mmd_by_loops(x: np.ndarray, y: np.ndarray, c: float) -> float:
    """Unbiased MMD^2 (Gretton et al., 2012, eq. 3) with k(a, b) = c / (c + ||a - b||^2), written out."""
    n = len(x)

    def k(a, b):
        return c / (c + float(np.sum((a - b) ** 2)))

    xx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(n) for j in range(n)) / (n * n)
    return xx + yy - 2 * xy


def test_mmd_equals_the_double_loop(plugin):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20, 3)), rng.normal(0.5, 1.5, size=(20, 3))
    sigma = 0.7
    expected = mmd_by_loops(x, y, c=2 * 3 * sigma**2)  # C = 2 L sigma^2
    got = plugin.mmd(torch.from_numpy(x), torch.from_numpy(y), sigma=sigma)
    assert got.item() == pytest.approx(expected, rel=1e-10)


def test_mmd_is_near_zero_for_one_distribution_and_larger_for_two(plugin):
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(500, 4, generator=gen), torch.randn(500, 4, generator=gen)
    shifted = torch.randn(500, 4, generator=gen) + 1.0
    same, different = plugin.mmd(a, b).item(), plugin.mmd(a, shifted).item()
    assert abs(same) < 0.005
    assert different > 0.05 and different > 20 * abs(same)


def test_the_objective_is_the_infovae_loss_and_returns_the_elbo_parts(plugin):
    from vaelab.likelihood import Bernoulli
    from vaelab.model import VAE, MLPDecoder
    from vaelab.priors import StandardNormal

    torch.manual_seed(0)
    shape, latent = (1, 8, 8), 3
    encoder = plugin.ResMLPEncoder(shape, latent, hidden=16, blocks=3)
    model = VAE(encoder, MLPDecoder(shape, latent, [16]), Bernoulli(), StandardNormal(latent), shape, latent)
    x = torch.rand(12, *shape).round()
    mu, logvar = encoder(x)
    assert mu.shape == logvar.shape == (12, latent)

    step = plugin.MMD(alpha=0.5, lambda_=2.0)(model, x, kl_weight=0.8)
    assert step.recon.shape == step.kl.shape == (12,) and step.z.shape == (12, latent)
    # recon + (1 - alpha) * kl_weight * KL + (alpha + lambda - 1) * MMD (Zhao et al., 2019, eq. 6)
    expected = (step.recon + 0.5 * 0.8 * step.kl).mean() + 1.5 * step.terms["mmd"]
    assert step.loss.item() == pytest.approx(expected.item(), rel=1e-6)
    step.loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in encoder.parameters())


def test_the_plugins_settings_are_checked_from_its_signatures(plugin):
    node = {"_target_": "vaelab_resmlp.ResMLPEncoder", "data_shape": [1, 8, 8], "latent_dim": 4, "blocks": 0}
    (error,) = node_errors(node, plugin.ResMLPEncoder)
    assert error["loc"] == ("blocks",) and error["type"] == "greater_than_equal"
    (error,) = node_errors({"alpha": 1.5}, plugin.MMD)
    assert error["loc"] == ("alpha",) and error["type"] == "less_than_equal"
    with pytest.raises(ValueError, match=r"alpha \+ lambda_ - 1 must be >= 0"):
        plugin.MMD(alpha=-1.0, lambda_=1.0)


# ---------------------------------------------------------------- installed for real

# Small and short: digits, a narrow encoder, two epochs of 81 steps (killed early in one run).
TRAIN = [
    "model=resmlp",
    "objective=mmd",
    "data=digits",
    "data.batch_size=16",
    "model.latent_dim=4",
    "model.encoder.hidden=32",
    "model.encoder.blocks=1",
    "trainer.max_epochs=2",
    "trainer.enable_model_summary=false",
    "logger=none",
    "eval.num_samples=4",
    "callbacks.step_checkpoint.every_n_train_steps=5",
    "++callbacks.rich_progress_bar=null",
]


def environment(site: Path | None) -> dict[str, str]:
    env = {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    env.pop("PYTHONPATH", None)
    if site is not None:
        env["PYTHONPATH"] = str(site)
    return env


def run(cwd: Path, site: Path | None, *cmd: str) -> subprocess.CompletedProcess:
    return warm.run(cmd, cwd=cwd, env=environment(site), capture_output=True, text=True, timeout=600)


def finite(metrics: dict, *keys: str) -> bool:
    return all(isinstance(metrics[k], float) and math.isfinite(metrics[k]) for k in keys)


@pytest.mark.slow
def test_the_installed_plugin_trains_resumes_scores_samples_sweeps_and_compares(tmp_path):
    # pip builds in the source folder (build/, *.egg-info): build a copy, leave the checkout clean.
    source = shutil.copytree(PLUGIN, tmp_path / "plugin_src", ignore=shutil.ignore_patterns("build", "*.egg-info"))
    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(site)]
    installed = run(tmp_path, None, *pip, str(source))
    assert installed.returncode == 0, installed.stderr[-2000:]
    assert (site / "hydra_plugins" / "vaelab_resmlp" / "__init__.py").is_file()
    assert not (site / "hydra_plugins" / "__init__.py").exists()  # a namespace package, shared
    work = tmp_path / "work"  # paths.root_dir is the working directory: logs/ and data/ go here
    work.mkdir()
    train = [sys.executable, str(ROOT / "train.py")]

    # The configs are on Hydra's search path.
    helped = run(work, site, *train, "--help")
    assert helped.returncode == 0, helped.stderr[-2000:]
    groups = dict(
        line.split(": ", 1) for line in helped.stdout.splitlines() if line.startswith(("model: ", "objective: "))
    )
    assert "resmlp" in groups["model"].split(", ") and "mmd" in groups["objective"].split(", ")

    # A run killed with SIGKILL mid-training, resumed with ckpt_path=last (its checkpoint names the
    # plugin's classes: the plugin's entry point makes them trusted).
    proc = warm.Popen(
        [*train, *TRAIN], cwd=work, env=environment(site), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    deadline = time.time() + 300
    while not list(work.glob("logs/train/runs/*/checkpoints/last.ckpt")):
        assert proc.poll() is None, proc.stderr.read()[-2000:]
        assert time.time() < deadline, "no checkpoint within 300 s"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    (run_dir,) = work.glob("logs/train/runs/*")
    last = run_dir / "checkpoints" / "last.ckpt"
    assert not (run_dir / "metrics.json").exists()
    assert 0 < torch.load(last, weights_only=True)["global_step"] < 2 * 81
    resumed = run(work, site, *train, *TRAIN, "ckpt_path=last")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert [p.name for p in work.glob("logs/train/runs/*")] == [run_dir.name]
    assert json.loads((run_dir / "status.json").read_text()) == {"state": "finished"}
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert finite(metrics, "test/elbo", "test/nll", "test/mmd", "val/mmd")
    assert torch.load(last, weights_only=True)["global_step"] == 2 * 81
    config = torch.load(last, weights_only=True)["vaelab"]["config"]
    assert config["model"]["encoder"]["_target_"] == "vaelab_resmlp.ResMLPEncoder"

    # vaelab-eval and vaelab-sample of its checkpoint.
    scored = run(
        work,
        site,
        str(BIN / "vaelab-eval"),
        f"ckpt_path={last}",
        "eval.num_samples=4",
        "pictures=false",
        "hydra.run.dir=ev",
    )
    assert scored.returncode == 0, scored.stderr[-2000:]
    assert finite(json.loads((work / "ev" / "metrics.json").read_text()), "test/nll", "test/elbo", "test/bpd")
    sampled = run(work, site, str(BIN / "vaelab-sample"), f"ckpt_path={last}", "n=8", "hydra.run.dir=smp")
    assert sampled.returncode == 0, sampled.stderr[-2000:]
    samples = np.load(work / "smp" / "samples.npy")
    assert samples.shape == (8, 1, 8, 8) and np.isfinite(samples).all()

    # Where the plugin is not installed (this process: the package is only on the jobs' PYTHONPATH),
    # its checkpoint is refused in one line saying what to do, before anything is built.
    with pytest.raises(RefusedTarget) as refused:
        load_model(last)
    line = str(refused.value)
    assert "\n" not in line
    assert line.startswith(f"ckpt_path={last}: refused to instantiate 'vaelab_resmlp.ResMLPEncoder' at model")
    assert line.endswith(
        "'vaelab_resmlp' is not installed here: install the package that provides it and trust it: "
        "trust=[vaelab_resmlp]"
    )
    assert "vaelab_resmlp" not in sys.modules

    # A two-job sweep over the objective's lambda_, then vaelab-compare over all three runs.
    tiny = [o for o in TRAIN if not o.startswith(("trainer.max_epochs=", "callbacks.step_checkpoint"))]
    tiny += ["trainer.max_epochs=1", "trainer.limit_train_batches=3", "trainer.limit_val_batches=2"]
    tiny += ["trainer.limit_test_batches=2"]
    swept = run(work, site, *train, "-m", *tiny, "objective.lambda_=1,10")
    assert swept.returncode == 0, swept.stderr[-2000:]
    (sweep,) = work.glob("logs/train/multiruns/*")
    for job in ("0", "1"):
        assert finite(json.loads((sweep / job / "metrics.json").read_text()), "test/nll", "val/mmd")
    compared = run(work, None, str(BIN / "vaelab-compare"), f"folders=[{sweep},{run_dir}]", "out=cmp")
    assert compared.returncode == 0, compared.stderr[-2000:]
    with open(work / "cmp" / "comparison.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and {row["state"] for row in rows} == {"finished"}
    assert sorted(row["objective.lambda_"] for row in rows) == ["", "1", "10"]  # the single run left it at 1
    assert all(math.isfinite(float(row["test/nll"])) for row in rows)
