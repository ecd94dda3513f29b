"""TensorLoader and EpochOrder: every example once per epoch, disjoint shards under DDP."""

from __future__ import annotations

import torch

from vaelab.data.loader import EpochOrder, TensorLoader


def collect(loader):
    return torch.cat([y for _, y in loader])


def test_each_epoch_is_a_permutation_and_epochs_differ():
    n = 1003
    x, y = torch.randn(n, 3), torch.arange(n)
    loader = TensorLoader(x, y, batch_size=100, sampler=EpochOrder(n, shuffle=True, seed=5))
    assert len(loader) == 11
    epoch0 = collect(loader)
    assert sorted(epoch0.tolist()) == list(range(n))
    assert torch.equal(x[epoch0], torch.cat([b for b, _ in loader]))  # inputs stay paired with labels
    loader.sampler.set_epoch(1)
    epoch1 = collect(loader)
    assert sorted(epoch1.tolist()) == list(range(n)) and not torch.equal(epoch0, epoch1)
    loader.sampler.set_epoch(0)
    assert torch.equal(collect(loader), epoch0)


def test_evaluation_order_is_identity_and_drop_last():
    loader = TensorLoader(torch.zeros(10, 1), torch.arange(10), 4, EpochOrder(10, shuffle=False, seed=0))
    assert collect(loader).tolist() == list(range(10))
    assert len(TensorLoader(torch.zeros(10, 1), torch.arange(10), 4, EpochOrder(10, False, 0), drop_last=True)) == 2


def test_shards_cover_the_data_once_and_train_shards_are_equal():
    n, world = 10, 3
    train = [EpochOrder(n, True, 1, rank=r, world_size=world, pad=True).indices() for r in range(world)]
    assert len({len(t) for t in train}) == 1  # same number of steps on every rank
    assert set(torch.cat(train).tolist()) == set(range(n))
    evals = [EpochOrder(n, False, 1, rank=r, world_size=world, pad=False).indices() for r in range(world)]
    assert sorted(torch.cat(evals).tolist()) == list(range(n))  # no duplicates: exact split metrics
