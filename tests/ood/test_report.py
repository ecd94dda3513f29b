"""report(): a small VAE trained on binarised 8x8 digits, scored against the same digits,
another half of them, and binary noise; the saved scores checked against their definitions
and scikit-learn, the histograms on disk and in an offline W&B run."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.metrics import average_precision_score, roc_auc_score

from tests.helpers.models import _mlp_vae
from vaelab.data import Digits
from vaelab.ood import report

K = 16


@pytest.fixture(scope="module")
def trained():
    """(vae, test, val): an MLP VAE fitted for 150 Adam steps to dynamically binarised digits."""
    dm = Digits(binarize="dynamic", seed=0)
    dm.setup("fit")
    x_train = dm.splits["train"][0]
    vae = _mlp_vae(data_shape=[1, 8, 8], latent_dim=3)
    optimiser = torch.optim.Adam(vae.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(150):
        probs = x_train[torch.randint(len(x_train), (128,), generator=g)]
        recon, kl = vae.elbo_terms((torch.rand(probs.shape, generator=g) < probs).float())
        loss = (recon + kl).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return vae.eval(), dm.splits["test"][0], dm.splits["val"][0]


def test_report_scores_detects_and_saves(trained, tmp_path, capsys):
    import wandb

    vae, test, val = trained
    half = len(test) // 2
    noise = (torch.rand(200, 1, 8, 8, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    others = {"self": test[:half], "other_half": test[half:], "noise": noise}
    run = wandb.init(dir=str(tmp_path), mode="offline", project="ood-test")
    try:
        metrics = report(
            vae,
            test[:half],
            val,
            others,
            num_samples=K,
            batch_size=64,
            out_dir=tmp_path / "out",
            logger=run,
            typicality_batch=4,
        )
        run_dir = run.dir
    finally:
        run.finish()
    scores = ["nll", "bpd", "typicality", "typicality_m4", "complexity"]

    # A set against itself: every score ranks both copies alike, AUROC exactly 0.5; another half
    # of the same distribution: near 0.5; binary noise: the likelihood finds it at once.
    for score in scores:
        assert metrics[f"ood/self/{score}/auroc"] == pytest.approx(0.5, abs=1e-9)
        assert abs(metrics[f"ood/other_half/{score}/auroc"] - 0.5) < 0.15
    assert metrics["ood/noise/nll/auroc"] > 0.95 and metrics["ood/noise/typicality/auroc"] > 0.95

    # The saved per-example scores, against their definitions and an independent AUROC/AUPR.
    with np.load(tmp_path / "out" / "ood_scores.npz", allow_pickle=False) as saved:
        s = {k: saved[k] for k in saved.files}
    assert set(s) == {"val/nll"} | {f"{n}/{sc}" for n in ["test", *others] for sc in scores}
    d = 64
    h = s["val/nll"].mean()
    for name, x in [("test", test[:half]), *others.items()]:
        nll = s[f"{name}/nll"]
        assert nll.shape == (len(x),) and nll.dtype == np.float64
        np.testing.assert_allclose(s[f"{name}/bpd"], nll / (d * math.log(2)))
        np.testing.assert_allclose(s[f"{name}/typicality"], np.abs(nll - h))
        assert s[f"{name}/typicality_m4"].shape == (len(x) // 4,)
        png = [len(_png(im)) * 8 / d for im in (x[:, 0].numpy() * 255).round().astype(np.uint8)]
        np.testing.assert_allclose(s[f"{name}/complexity"], s[f"{name}/bpd"] - np.array(png))
        assert metrics[f"ood/{name}/nll_mean"] == pytest.approx(nll.mean())
        assert metrics[f"ood/{name}/bpd_mean"] == pytest.approx(nll.mean() / (d * math.log(2)))
    assert metrics["ood/val/nll_mean"] == pytest.approx(h)
    for name in others:
        for score in scores:
            a, b = s[f"test/{score}"], s[f"{name}/{score}"]
            y = np.r_[np.zeros(len(a)), np.ones(len(b))]
            assert metrics[f"ood/{name}/{score}/auroc"] == pytest.approx(roc_auc_score(y, np.r_[a, b]), abs=1e-6)
            assert metrics[f"ood/{name}/{score}/aupr"] == pytest.approx(
                average_precision_score(y, np.r_[a, b]), abs=1e-6
            )
    # Same examples, same seed: the in-distribution split and its copy have identical scores.
    np.testing.assert_array_equal(s["self/nll"], s["test/nll"])

    # One histogram per score, on disk and in the W&B run's media.
    for score in scores:
        with Image.open(tmp_path / "out" / f"ood_hist_{score}.png") as im:
            assert im.format == "PNG" and im.size == (640, 420)
    logged = sorted(p.name.split("_")[0] for p in (tmp_path / "wandb").rglob("media/images/ood/hist/*.png"))
    assert sorted(score.split("_")[0] for score in scores) == logged and run_dir

    printed = capsys.readouterr().out
    assert "OOD detection, K = 16" in printed
    a, p = metrics["ood/noise/nll/auroc"], metrics["ood/noise/nll/aupr"]
    assert ["noise", "nll", f"{a:.4f}", f"{p:.4f}"] in [line.split() for line in printed.splitlines()]


def _png(image: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def test_a_data_set_of_another_shape_is_refused_before_scoring(trained, tmp_path):
    vae, test, val = trained
    with pytest.raises(
        ValueError, match=r"^ood=big: the data have shape \[1, 16, 16\] .*\[1, 8, 8\]; set ood_resize=true"
    ):
        report(vae, test, val, {"big": torch.zeros(3, 1, 16, 16)}, num_samples=K, batch_size=64, out_dir=tmp_path)
    assert not list(tmp_path.iterdir())  # nothing written
    with pytest.raises(ValueError, match="ood=val: a data set may not be named"):
        report(vae, test, val, {"val": test}, num_samples=K, batch_size=64, out_dir=tmp_path)
    with pytest.raises(ValueError, match=r"ood_typicality_batch=500: larger than the smallest data set \(20 "):
        report(vae, test, val, {"few": test[:20]}, num_samples=K, batch_size=64, out_dir=tmp_path, typicality_batch=500)
