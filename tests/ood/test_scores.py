"""Per-example OOD scores: nll against closed forms and model.log_marginal, bpd against the
NLL metric, typicality against its definition, PNG code lengths against files written here."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers.models import LinearGaussianProblem
from vaelab.metrics.elbo import NLL
from vaelab.ood import scores as S


@pytest.fixture(scope="module")
def problem() -> LinearGaussianProblem:
    return LinearGaussianProblem(n=64)


def test_nll_is_exact_for_the_exact_posterior_in_any_batching(problem):
    # With q(z|x) the true posterior every importance weight equals p(x): any K, any batch is exact.
    vae = problem.exact_vae()
    for batch_size in (64, 7):
        nll = S.nll(vae, problem.x, num_samples=3, batch_size=batch_size)
        assert nll.dtype == torch.float64 and nll.shape == (64,)
        np.testing.assert_allclose(nll.numpy(), -problem.exact, rtol=0, atol=2e-4)


def test_nll_is_log_marginal_seeded_and_leaves_the_global_generator_alone(problem):
    vae, _, _ = problem.imperfect()
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    a = S.nll(vae, problem.x, num_samples=20, batch_size=64, seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(a, S.nll(vae, problem.x, num_samples=20, batch_size=64, seed=1))
    assert not torch.equal(a, S.nll(vae, problem.x, num_samples=20, batch_size=64, seed=2))
    torch.manual_seed(1)
    direct = -vae.log_marginal(problem.x, 20).double()
    torch.testing.assert_close(a, direct, rtol=0, atol=1e-6)
    # The estimate is an upper bound on the exact -log p(x) in expectation (Jensen): above it on average.
    assert (a.numpy() + problem.exact).mean() > 0


def test_bpd_is_the_nll_metrics_bits_per_dimension():
    nll = torch.tensor([100.0, 250.5, 80.25], dtype=torch.float64)
    metric = NLL(num_dims=784)
    metric.update(-nll)
    assert float(S.bpd(nll, 784).mean()) == pytest.approx(float(metric.compute()["bpd"]), rel=1e-6)
    assert float(S.bpd(nll, 784)[0]) == pytest.approx(100.0 / (784 * math.log(2)))


def test_typicality_per_example_and_in_batches():
    rng = np.random.default_rng(0)
    nll = rng.normal(200, 10, 103)
    h = 198.5
    t = torch.tensor(nll)
    np.testing.assert_allclose(S.typicality(t, h).numpy(), np.abs(nll - h))
    # M = 1: the same values in another order; M = N: one batch, the set's mean.
    np.testing.assert_allclose(np.sort(S.typicality_batches(t, h, 1).numpy()), np.sort(np.abs(nll - h)))
    assert S.typicality_batches(t, h, 103).numpy() == pytest.approx([abs(nll.mean() - h)])
    # M = 10 on 100 examples: 10 disjoint batches covering them all. With H below every nll the
    # scores are mean_b - H, so they average to the mean of all 100 minus H.
    low = float(nll.min()) - 1
    batches = S.typicality_batches(t[:100], low, 10, seed=3)
    assert batches.shape == (10,) and torch.equal(batches, S.typicality_batches(t[:100], low, 10, seed=3))
    assert float(batches.mean()) == pytest.approx(nll[:100].mean() - low)
    assert not torch.equal(batches, S.typicality_batches(t[:100], low, 10, seed=4))


def test_png_code_length_is_the_png_file_length_and_tracks_complexity(tmp_path):
    g = torch.Generator().manual_seed(0)
    grey = torch.cat([torch.full((1, 1, 28, 28), 0.5), torch.rand(2, 1, 28, 28, generator=g)])  # constant, noise
    colour = torch.rand(2, 3, 32, 32, generator=g)
    for x in (grey, colour):
        bits = S.png_bpd(x).numpy()
        d = math.prod(x.shape[1:])
        levels = (x.clamp(0, 1) * 255).round().to(torch.uint8)
        for i in range(len(x)):
            image = levels[i].permute(1, 2, 0).numpy()
            image = image[..., 0] if x.shape[1] == 1 else image
            path = tmp_path / f"{x.shape[1]}_{i}.png"
            Image.fromarray(image).save(path, optimize=True)
            assert bits[i] == pytest.approx(path.stat().st_size * 8 / d)
            assert np.array_equal(np.asarray(Image.open(path)), image)  # lossless: the code is of x itself
    # Uniform 8-bit noise cannot be coded in fewer than 8 bits a value; a constant image in far fewer.
    bits = S.png_bpd(grey).numpy()
    assert bits[0] < 1.0 and (bits[1:] > 8.0).all()
    assert (S.png_bpd(colour).numpy() > 8.0).all()
    # The header is included: even the constant image costs a PNG's fixed framing (57 bytes).
    assert bits[0] * 784 / 8 > 57


def test_png_code_length_needs_one_or_three_channel_images():
    with pytest.raises(ValueError, match=r"needs images \(N, 1 or 3, H, W\), got shape \[4, 2, 8, 8\]"):
        S.png_bpd(torch.zeros(4, 2, 8, 8))


def test_complexity_is_model_bits_minus_png_bits():
    b, png = torch.tensor([1.0, 0.25]), torch.tensor([0.5, 1.0])
    assert S.complexity(b, png).tolist() == [0.5, -0.75]
