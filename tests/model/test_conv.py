"""The convolutional encoder and decoder: shapes for any image size, and clear errors."""

from __future__ import annotations

import pytest
import torch

from tests.helpers.models import _conv_vae
from vaelab.likelihood import GaussianLearned
from vaelab.model import ConvDecoder, ConvEncoder

# =========================================================================== conv architecture


@pytest.mark.parametrize(
    "shape, channels",
    [([1, 28, 28], [8, 16, 32]), ([3, 32, 32], [8, 16, 32]), ([3, 64, 64], [8, 16, 32]), ([1, 7, 9], [8, 16])],
)
@pytest.mark.parametrize("ppd", [1, 2])
def test_conv_shapes(shape, channels, ppd):
    torch.manual_seed(0)
    lat, b = 5, 2
    enc = ConvEncoder(shape, lat, channels)
    dec = ConvDecoder(shape, lat, channels, params_per_dim=ppd)
    x = torch.rand(b, *shape)
    mu, logvar = enc(x)
    assert mu.shape == (b, lat) and logvar.shape == (b, lat)
    out = dec(torch.randn(b, lat))
    assert out.shape == (b, ppd, *shape)


def test_disentanglement_libs_encoder_and_decoder():
    """channels [32, 32, 64, 64], hidden 256, relu: Locatello et al. (2019)'s Table 1 at 64x64:
    four 4x4 stride-2 convolutions, dense 256, 2 x 10 outputs; the decoder dense 256, dense
    4*4*64, four transposed convolutions 64, 32, 32, 1 channels; ReLU between all."""
    shape, channels = [1, 64, 64], [32, 32, 64, 64]
    enc = ConvEncoder(shape, 10, channels, hidden=256, activation="relu")
    dec = ConvDecoder(shape, 10, channels, hidden=256, activation="relu")
    convs = [m for m in enc.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(m.out_channels, m.kernel_size, m.stride) for m in convs] == [(c, (4, 4), (2, 2)) for c in channels]
    linears = [(m.in_features, m.out_features) for m in enc.modules() if isinstance(m, torch.nn.Linear)]
    assert linears == [(4 * 4 * 64, 256), (256, 20)]
    assert [(m.in_features, m.out_features) for m in dec.fc if isinstance(m, torch.nn.Linear)] == [
        (10, 256),
        (256, 1024),
    ]
    deconvs = [m.out_channels for m in dec.body if isinstance(m, torch.nn.ConvTranspose2d)]
    assert deconvs == [64, 32, 32, 1]
    acts = {
        type(m) for m in [*enc.modules(), *dec.modules()] if not isinstance(m, (torch.nn.Sequential, torch.nn.Flatten))
    }
    assert acts == {torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear, torch.nn.ReLU, ConvEncoder, ConvDecoder}
    assert enc(torch.rand(2, *shape))[0].shape == (2, 10) and dec(torch.randn(2, 10)).shape == (2, 1, *shape)
    # Without the options: the same modules as before them (checkpoints keep loading).
    assert [type(m) for m in ConvEncoder(shape, 10, channels).body][-2:] == [torch.nn.SiLU, torch.nn.Flatten]
    assert [type(m) for m in ConvDecoder(shape, 10, channels).fc] == [torch.nn.Linear, torch.nn.SiLU]


def test_conv_vae_end_to_end_gaussian_learned():
    vae = _conv_vae([3, 32, 32], [8, 16, 32], likelihood=GaussianLearned())
    x = torch.rand(2, 3, 32, 32)
    recon, kl = vae.elbo_terms(x)
    assert recon.shape == (2,) and kl.shape == (2,)
    (recon + kl).mean().backward()
    assert all(p.grad is not None for p in vae.parameters())
    assert vae.log_marginal(x, num_samples=3).shape == (2,)


def _max_stages(h: int, w: int) -> int:
    """Largest n with min(h, w) halved (floor) n times still >= 1."""
    n, m = 0, min(h, w)
    while m // 2 >= 1:
        m //= 2
        n += 1
    return n


@pytest.mark.parametrize("h, w", [(4, 4), (7, 9), (28, 28), (5, 64), (1, 3), (33, 17)])
def test_conv_stage_limit(h, w):
    n = _max_stages(h, w)
    shape = [1, h, w]
    if n >= 1:
        ch = [4] * n
        out = ConvDecoder(shape, 2, ch)(torch.randn(1, 2))
        assert out.shape == (1, 1, 1, h, w)
        assert ConvEncoder(shape, 2, ch)(torch.rand(1, *shape))[0].shape == (1, 2)
    for cls in (ConvEncoder, ConvDecoder):
        with pytest.raises(ValueError) as info:
            cls(shape, 2, [4] * (n + 1))
        msg = str(info.value)
        assert "model=conv" in msg
        assert f"{n + 1} downsampling stages" in msg
        assert f"at most {n} stages" in msg


def test_conv_rejects_too_many_stages_4x4():
    with pytest.raises(ValueError, match=r"model=conv with 3 downsampling stages .* 4x4"):
        ConvEncoder([1, 4, 4], 3, [8, 16, 32])
    with pytest.raises(ValueError, match=r"model=conv with 3 downsampling stages"):
        ConvDecoder([1, 4, 4], 3, [8, 16, 32])


@pytest.mark.parametrize("cls", [ConvEncoder, ConvDecoder])
def test_conv_rejects_vector_data(cls):
    with pytest.raises(ValueError, match="model=conv") as info:
        cls([10], 3, [8, 16])
    assert "model=mlp" in str(info.value)
