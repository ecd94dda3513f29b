"""Hydra's sweep syntax as Optuna distributions: each form against the values it must mean."""

from __future__ import annotations

import numpy as np
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from vaelab.hparams_search.search_space import parse


def values(dist) -> list:
    """Every value a discrete distribution can take, enumerated independently of Optuna."""
    if isinstance(dist, CategoricalDistribution):
        return list(dist.choices)
    return list(np.arange(dist.low, dist.high + dist.step / 2, dist.step))


def test_the_forms_of_conf_hparams_search_optuna_yaml_and_range():
    params = {
        "objective.beta": "tag(log, interval(0.25, 4.0))",
        "model.latent_dim": "choice(4, 8, 16, 32)",
        "likelihood": "choice(bernoulli, continuous_bernoulli)",
        "optimizer.lr": "interval(1e-4, 3e-3)",
        "data.batch_size": "tag(log, int, interval(16, 256))",
        "model.depth": "range(1, 8, 3)",
        "objective.gamma": "range(0.5, 2, 0.5)",
        "seed": "shuffle(range(3))",
    }
    space, fixed = parse(params, [])
    assert fixed == []
    assert space["objective.beta"] == FloatDistribution(0.25, 4.0, log=True)
    assert space["optimizer.lr"] == FloatDistribution(1e-4, 3e-3)
    assert space["model.latent_dim"] == CategoricalDistribution([4, 8, 16, 32])
    assert space["likelihood"] == CategoricalDistribution(["bernoulli", "continuous_bernoulli"])
    assert space["data.batch_size"] == IntDistribution(16, 256, log=True)
    # range(...) takes the values of Python's range, as a grid sweep does: stop excluded.
    assert values(space["model.depth"]) == list(range(1, 8, 3)) and isinstance(space["model.depth"], IntDistribution)
    assert values(space["objective.gamma"]) == pytest.approx([0.5, 1.0, 1.5])
    assert sorted(values(space["seed"])) == [0, 1, 2] and isinstance(space["seed"], CategoricalDistribution)


def test_the_command_line_fixes_or_replaces_a_params_entry():
    params = {"optimizer.lr": "tag(log, interval(1e-4, 3e-3))", "model.latent_dim": "choice(4, 8)"}
    space, fixed = parse(params, ["optimizer.lr=1e-3", "model.latent_dim=2,3", "++callbacks.x=null", "data=digits"])
    assert set(space) == {"model.latent_dim"} and space["model.latent_dim"] == CategoricalDistribution([2, 3])
    # A fixed override is passed to every trial as written (its ++ kept).
    assert fixed == ["optimizer.lr=1e-3", "++callbacks.x=null", "data=digits"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("a=range(5, 1)", "a=range(5, 1): an empty range; it needs start < stop"),
        ("a=interval(3, 1)", "a=interval(3, 1): an interval(lo, hi) needs lo < hi"),
        ("a=tag(log, interval(0, 1))", "a=tag(log, interval(0, 1)): an interval(lo, hi) needs 0 < lo < hi (log scale)"),
        ("a=tag(int, interval(0.5, 4))", "needs whole numbers lo and hi"),
        ("a=tag(cube, interval(1, 2))", "unknown tag 'cube'; the tags are log and int"),
        ("a=tag(log, range(1, 9))", "tag(log, ...) applies to interval(...), not range(...)"),
        ("a=choice(1", "the command line: "),
    ],
)
def test_a_bad_search_space_is_refused_in_one_line(line, message):
    with pytest.raises(ValueError) as refused:
        parse({}, [line])
    assert message in str(refused.value) and "\n" not in str(refused.value)
