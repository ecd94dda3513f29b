"""TensorLoader and EpochOrder: every example once per epoch, disjoint shards under DDP."""

from __future__ import annotations

import itertools

import pytest
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


def test_hand_outs_of_k_batches_are_the_batches_end_at_multiples_of_k_and_resume():
    """chunk=4: 10 batches an epoch (the last of 4 rows) in hand-outs that end where the count of
    batches since the first epoch is a multiple of 4, each batch transformed with its own generator."""
    x = torch.rand(76, 3)
    noisy = lambda b, g: b + torch.rand(b.shape, generator=g)  # noqa: E731
    one = TensorLoader(x, torch.arange(76), 8, EpochOrder(76, True, seed=1), transform=noisy)
    four = TensorLoader(x, torch.arange(76), 8, EpochOrder(76, True, seed=1), transform=noisy, chunk=4)
    sizes = []
    for epoch in (0, 1, 2):
        one.sampler.set_epoch(epoch)
        four.sampler.set_epoch(epoch)
        batches, hand_outs = list(one), list(four)
        assert len(hand_outs) == len(four)
        assert torch.equal(torch.cat([b[0] for b in hand_outs]), torch.cat([b[0] for b in batches]))
        sizes.append([len(h[0]) for h in hand_outs])
    # 10 batches an epoch: epoch 1 starts at batch 10, epoch 2 at 20 (a multiple of 4).
    assert sizes == [[32, 32, 12], [16, 32, 28], [32, 32, 12]]
    one.sampler.set_epoch(1)
    epoch_1 = list(one)
    four.sampler.set_epoch(1)
    four.load_state_dict({"epoch": 1, "yielded": 2})  # a checkpoint after epoch 1's first hand-out
    resumed = list(four)
    assert [len(h[0]) for h in resumed] == [32, 28]
    assert torch.equal(torch.cat([h[0] for h in resumed]), torch.cat([b[0] for b in epoch_1[2:]]))


@pytest.mark.parametrize("batches", [1, 3, 7, 10, 21, 24])
@pytest.mark.parametrize("k", [2, 3, 4, 8])
def test_every_epoch_has_as_many_hand_outs_and_ends_at_every_multiple_of_k(batches, k):
    """Lightning counts the hand-outs once and ends each epoch there: 21 batches in hand-outs of 8
    are cut into 3 in epoch 0 (8, 8, 5) but 4 in epoch 1 (3, 8, 8, 2), so epoch 0 splits one."""
    loader = TensorLoader(torch.zeros(batches, 1), torch.zeros(batches), 1, EpochOrder(batches, False, seed=0), chunk=k)
    counted = len(loader)  # by Lightning, before epoch 0
    for epoch in range(2 * k):
        loader.sampler.set_epoch(epoch)
        sizes = [len(x) for x, _ in loader]
        assert len(sizes) == counted and sum(sizes) == batches and max(sizes) <= k
        ends = itertools.accumulate(sizes, initial=epoch * batches)
        crossed = range(epoch * batches + 1, (epoch + 1) * batches)
        assert {m for m in crossed if m % k == 0} <= set(ends)  # a step checkpoint every N (K | N) is on time
    # no more than needed: the most pieces the multiples of K cut an epoch into, counted directly
    assert counted == max(len({i // k for i in range(e * batches, (e + 1) * batches)}) for e in range(2 * k))
