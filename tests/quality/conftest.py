"""The digits feature net, trained once for the quality tests (a few seconds) into a session cache."""

from __future__ import annotations

import pytest

from vaelab.data import Digits
from vaelab.quality.classifier import TrainSetup, feature_net

# 100 steps reach ~98% on the 8x8 digits test split; the default recipe's 300 take longer here.
QUICK = TrainSetup(min_steps=100)


@pytest.fixture(scope="session")
def digits_net(tmp_path_factory):
    """(datamodule, net, test accuracy, cache dir) for 8x8 digits binarised as in the benchmarks."""
    cache = tmp_path_factory.mktemp("feature_nets")
    datamodule = Digits(binarize="dynamic", seed=0)
    net, acc = feature_net(datamodule, cache, QUICK)
    return datamodule, net, acc, cache
