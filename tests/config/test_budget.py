"""The model's parameter count, from the model built on the meta device before the real build (vaelab.config.budget)."""

from __future__ import annotations

import pytest

from vaelab.config import budget, schema, targets


@pytest.mark.parametrize(
    "overrides",
    [
        ["model=mlp"],
        ["model=mlp", "model.encoder.hidden=[]"],
        ["model=conv"],
        ["model=conv", "data=fashion_mnist", "model.encoder.channels=[8,16,32]"],
        ["model=conv", "data=cifar10", "likelihood=discretized_logistic_mixture"],
        ["prior=mog"],
        ["prior=vamp"],
        ["objective=factor_vae"],
        ["model=hvae", "prior=vamp"],
        ["model=conv_hvae", "data=fashion_mnist"],
        ["model=top_down", "data=fashion_mnist"],
    ],
)
def test_the_estimate_is_the_count_of_the_model_built(cfg_factory, overrides):
    cfg = cfg_factory(*overrides)
    tree = schema.validate(cfg)
    model = targets.instantiate(cfg.model, path="model")
    assert budget.parameters(tree) == sum(p.numel() for p in model.parameters())


def test_a_hierarchical_model_no_memory_holds_is_refused_before_it_is_built(cfg_factory):
    # 3e6 gated units: 4.7e9 weights in the first layer alone, minutes of initialising before.
    with pytest.raises(schema.ConfigError) as raised:
        schema.validate(cfg_factory("model=hvae", "model.vae.hidden=3000000"))
    assert str(raised.value).startswith(
        "model.latent_dim=4, model.vae.hidden=3000000, model.vae.z1_dim=40, data.shape=[1, 8, 8]: the model would have "
    )
    assert "GB with their gradients and Adam's state, more than the" in str(raised.value)


def test_a_model_no_memory_holds_is_refused_naming_its_settings(cfg_factory):
    tree = schema.validate(cfg_factory("model.latent_dim=16"))
    assert budget.too_big(tree) is None
    # 1e8 latent units: the encoder's head alone is 256 x 2e8 weights.
    with pytest.raises(schema.ConfigError) as raised:
        schema.validate(cfg_factory("model.latent_dim=100000000"))
    have = budget.memory()[0] / 1e9
    assert str(raised.value) == (
        "model.latent_dim=100000000, model.encoder.hidden=[512, 256], data.shape=[1, 8, 8]: the model would "
        f"have 7.7e+10 parameters, 1232.0 GB with their gradients and Adam's state, more than the {have:.1f} GB "
        "of this machine's memory; make it smaller"
    )
