"""The digits feature net, trained once for the quality tests (a few seconds) into a session cache."""

from __future__ import annotations

import pytest
import torch

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


@pytest.fixture(autouse=True)
def one_thread():
    """The quality tests multiply small matrices (a few hundred rows): on a shared 2-core machine one
    intra-op thread ran them 20-30x faster than two (1.3 s against 0.05 s for a 20-subset KID)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
