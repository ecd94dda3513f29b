"""Batches from tensors held in memory: one permutation per epoch, batches by slicing.

Replaces Dataset + DataLoader for data sets that fit in memory: no per-sample Python
work, no collation, no worker processes. Under DDP each process takes its own shard.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch


class EpochOrder:
    """The order of examples for an epoch: a seeded permutation (or identity), sharded by rank.

    Lightning calls `set_epoch` on a loader's `sampler` at the start of every epoch,
    so each epoch's order depends only on (seed, epoch) and survives a resume.
    """

    def __init__(self, n: int, shuffle: bool, seed: int, rank: int = 0, world_size: int = 1, pad: bool = True):
        self.n, self.shuffle, self.seed = n, shuffle, seed
        self.rank, self.world_size, self.pad = rank, world_size, pad
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def generator(self) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)

    def indices(self) -> torch.Tensor:
        idx = torch.randperm(self.n, generator=self.generator()) if self.shuffle else torch.arange(self.n)
        if self.world_size > 1:
            if self.pad:
                # Same number of examples on every rank (as DistributedSampler): DDP steps in lockstep.
                extra = (-self.n) % self.world_size
                idx = torch.cat([idx, idx[:extra]])
            idx = idx[self.rank :: self.world_size]
        return idx

    def __len__(self) -> int:
        if self.world_size == 1:
            return self.n
        if self.pad:
            return -(-self.n // self.world_size)
        return len(range(self.rank, self.n, self.world_size))


class TensorLoader:
    """Iterates (x, y) batches of in-memory tensors in the order given by `sampler`.

    `sampler` and `batch_sampler` are the attribute names Lightning looks up on a loader
    (to call `set_epoch` and to tell whether it shuffles).
    transform(x, generator) may change each batch (e.g. dynamic binarisation); it gets the
    epoch's generator so that the result is reproducible.
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        sampler: EpochOrder,
        drop_last: bool = False,
        transform: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    ):
        self.x, self.y = x, y
        self.batch_sampler = None
        self.batch_size, self.sampler, self.drop_last, self.transform = batch_size, sampler, drop_last, transform

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        idx = self.sampler.indices()
        generator = self.sampler.generator()
        for i in range(len(self)):
            b = idx[i * self.batch_size : (i + 1) * self.batch_size]
            x = self.x[b]
            if self.transform is not None:
                x = self.transform(x, generator)
            yield x, self.y[b]
