"""Gated dense layers (Dauphin et al., 2017), as the VampPrior paper's MLPs use them."""

from __future__ import annotations

import torch

from vaelab.model import MLPDecoder, MLPEncoder
from vaelab.model.mlp import GatedDense


def test_gated_dense_is_the_linear_half_times_the_sigmoid_of_the_other():
    torch.manual_seed(0)
    layer = GatedDense(5, 3)
    x = torch.randn(4, 5)
    w, b = layer.linear.weight, layer.linear.bias
    expected = (x @ w[:3].T + b[:3]) * torch.sigmoid(x @ w[3:].T + b[3:])
    torch.testing.assert_close(layer(x), expected)


def test_gated_mlps_have_the_papers_shapes_and_their_parameters_are_counted():
    enc = MLPEncoder([1, 28, 28], 40, [300, 300], gated=True)
    dec = MLPDecoder([1, 28, 28], 40, [300, 300], gated=True)
    mu, logvar = enc(torch.rand(2, 1, 28, 28))
    assert mu.shape == logvar.shape == (2, 40) and dec(mu).shape == (2, 1, 1, 28, 28)

    # A gated layer is one Linear emitting both halves: in x 2*out weights, 2*out biases.
    def gated(d_in, d_out):
        return d_in * 2 * d_out + 2 * d_out

    def linear(d_in, d_out):
        return d_in * d_out + d_out

    assert sum(p.numel() for p in enc.parameters()) == gated(784, 300) + gated(300, 300) + linear(300, 80)
    assert sum(p.numel() for p in dec.parameters()) == gated(40, 300) + gated(300, 300) + linear(300, 784)
