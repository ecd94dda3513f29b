"""The domain classifier: accuracy on 8x8 digits, the cache (reused, weights_only, never executed), grey splits."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
import torch

from vaelab.data import MNIST, ArrayData, Digits
from vaelab.quality.classifier import (
    FEATURE_DIM,
    TrainSetup,
    cache_paths,
    embed,
    feature_net,
    grey_splits,
)

from .conftest import QUICK


def test_accuracy_and_cache_reused(digits_net):
    datamodule, net, acc, cache = digits_net
    assert acc > 0.85
    (weights,) = cache.glob("Digits-1x8x8-*.pt")
    info = json.loads(weights.with_suffix(".json").read_text())
    assert info["test_accuracy"] == acc and info["num_test"] == 359  # round(0.2 x 1797)
    # The stored accuracy is the net's: recomputed here from its predictions on the grey test split.
    x, y = grey_splits(datamodule, "test")["test"]
    with torch.no_grad():
        assert (net(x).argmax(1) == y).double().mean().item() == pytest.approx(acc)
    # The cache file is a plain state dict: it loads with weights_only=True.
    state = torch.load(weights, weights_only=True)
    assert state["head.weight"].shape == (10, FEATURE_DIM)
    before = os.stat(weights)
    again, acc_again = feature_net(Digits(binarize="dynamic", seed=0), cache, QUICK)
    after = os.stat(weights)
    # Loaded, not retrained: the file was not rewritten (same inode: write_bytes replaces files).
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert acc_again == acc
    assert torch.equal(embed(again, x), embed(net, x))
    assert embed(net, x).dtype == torch.float64 and embed(net, x).shape == (len(x), FEATURE_DIM)


def test_a_different_test_split_gets_its_own_net(digits_net):
    datamodule, _, _, cache = digits_net
    test = grey_splits(datamodule, "test")["test"]
    other = grey_splits(Digits(binarize="dynamic", seed=1), "test")["test"]
    assert cache_paths(datamodule, test, cache, QUICK)[0] != cache_paths(datamodule, other, cache, QUICK)[0]


def test_grey_splits_same_examples_without_binarisation(digits_net):
    datamodule, *_ = digits_net
    datamodule.setup("test")
    binary, labels = datamodule.splits["test"]
    grey, grey_labels = grey_splits(datamodule, "test")["test"]
    assert set(binary.unique().tolist()) == {0.0, 1.0}
    assert len(grey.unique()) > 2 and torch.equal(labels, grey_labels)
    # Same images: a Bernoulli draw is 0 wherever the grey level is 0.
    assert not binary[grey == 0].any()
    assert datamodule.splits["test"][0] is binary  # the module itself is left as it was


def test_a_pickled_cache_file_is_not_executed_but_replaced(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    setup = TrainSetup(epochs=1, min_steps=5)
    datamodule = Digits(seed=0)
    weights, info, _ = cache_paths(datamodule, grey_splits(datamodule, "test")["test"], cache, setup)
    marker = tmp_path / "executed"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    weights.write_bytes(pickle.dumps({"head.weight": Payload()}, protocol=2))
    info.write_text(json.dumps({"test_accuracy": 1.0}))
    net, acc = feature_net(datamodule, cache, setup)
    assert not marker.exists()
    assert json.loads(info.read_text())["test_accuracy"] == acc  # the fake 1.0 is gone
    assert torch.load(weights, weights_only=True)["head.weight"].shape[1] == FEATURE_DIM  # retrained over it


def test_bad_data_one_line(tmp_path):
    vectors = tmp_path / "v.npy"
    np.save(vectors, np.random.default_rng(0).random((20, 5), dtype=np.float32))
    with pytest.raises(ValueError, match=r"data shape \[5\] is not an image"):
        feature_net(ArrayData(str(vectors), test_size=0.5), tmp_path / "cache")
    unlabelled = tmp_path / "x.npy"
    np.save(unlabelled, np.random.default_rng(0).random((20, 1, 8, 8), dtype=np.float32))
    with pytest.raises(ValueError, match="has no labels"):
        feature_net(ArrayData(str(unlabelled), test_size=0.5, val_size=0.2), tmp_path / "cache")


def test_test_files_only_and_no_cached_net_one_line(tmp_path, mnist_test_split):
    only_test = tmp_path / "mnist"
    only_test.mkdir()
    for kind in ("images-idx3", "labels-idx1"):
        (only_test / f"t10k-{kind}-ubyte.gz").symlink_to(mnist_test_split / f"t10k-{kind}-ubyte.gz")
    with pytest.raises(FileNotFoundError) as err:
        feature_net(MNIST(str(only_test), download=False), tmp_path / "cache")
    message = str(err.value)
    assert message.startswith("quality.features=classifier: no feature net for data=MNIST in ")
    assert "train-images-idx3-ubyte" in message and "\n" not in message
