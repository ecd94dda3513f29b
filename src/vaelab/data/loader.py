"""Batches from tensors held in memory: one permutation per epoch, batches by slicing.

Replaces Dataset + DataLoader for data sets that fit in memory: no per-sample Python
work, no collation, no worker processes. Under DDP each process takes its own shard.
"""

from __future__ import annotations

import math
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

    def generator(self, batch: int = -1, device: torch.device | str = "cpu") -> torch.Generator:
        """The epoch's generator (batch=-1, for the order) or one batch's (for its transform)."""
        seed = (self.seed * 100_003 + self.epoch) * 1_000_003 + batch + 1
        return torch.Generator(device=device).manual_seed(seed)

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
    transform(x, generator) may change each batch (e.g. dynamic binarisation); it gets a
    generator seeded by (seed, epoch, batch index), so each batch is reproducible on its own.

    `state_dict`/`load_state_dict` make it resumable in the middle of an epoch (Lightning
    saves them in checkpoints): a resumed run continues with the very batches that the
    interrupted run would have seen next.

    chunk=K (trainer.steps_per_execution, vaelab.runs.executions) hands out up to K consecutive
    batches at a time, concatenated along the first dimension: each is the batch it would be with
    K = 1 (its rows, its own generator). Hand-outs end where the count of batches since the first
    epoch is a multiple of K (and at the epoch's end), so a training that sees whole epochs has
    taken a multiple of K steps after each hand-out but an epoch's last: a checkpoint every N steps
    (K divides N) falls between hand-outs. Every epoch has the same number of hand-outs (`len`):
    Lightning counts them once, before the first epoch, and ends an epoch there, so an epoch that
    the multiples of K cut into fewer pieces has its first hand-out of two or more batches split
    after one batch. Positions (`yielded`, resume) stay counted in batches.
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        sampler: EpochOrder,
        drop_last: bool = False,
        transform: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
        chunk: int = 1,
    ):
        self.x, self.y = x, y
        self.batch_sampler = None
        self.yielded = 0  # batches handed out in the current pass
        self.resume_at: tuple[int, int] | None = None  # (epoch, first batch) after load_state_dict
        self.batch_size, self.sampler, self.drop_last, self.transform = batch_size, sampler, drop_last, transform
        self.chunk = int(chunk)

    def batches(self) -> int:
        """Batches per pass (hand-outs are `len(self)`: chunks of them)."""
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __len__(self) -> int:
        """Hand-outs a pass: the most that any epoch's multiples of K cut it into. With b = qK + s
        batches an epoch, epoch e starts r = e*s mod K batches past a multiple of K, r runs over
        the multiples of g = gcd(b, K), and the cuts give q + ceil((r + s) / K) pieces: the most
        at r = K - g."""
        q, s = divmod(self.batches(), self.chunk)
        return q + (s > 0) + (s > math.gcd(s, self.chunk))

    def ends(self) -> list[int]:
        """Where this pass's hand-outs end, in batches: `len(self)` increasing positions, the last
        the pass's end."""
        batches, k = self.batches(), self.chunk
        before = self.sampler.epoch * batches  # batches of the earlier epochs
        ends = [*range(k - before % k, batches, k), batches]
        if len(ends) < len(self):  # at most one short (the docstring of __len__)
            starts = [0, *ends]
            i = next(i for i, end in enumerate(ends) if end - starts[i] > 1)  # the first of two or more
            ends.insert(i, starts[i] + 1)
        return ends

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        idx = self.sampler.indices()
        start = 0
        if self.resume_at is not None and self.resume_at[0] == self.sampler.epoch:
            start = self.resume_at[1]
        self.resume_at = None
        self.yielded = start
        idx = idx.to(self.x.device)  # data kept on a GPU is indexed there: no copy to the host
        first = start
        for last in self.ends():
            if last <= first:
                continue  # before the resume position
            b = idx[first * self.batch_size : last * self.batch_size]
            x = self.x[b]
            if self.transform is not None:
                # Each batch with its own generator; one batch (K = 1) is transformed as it is.
                parts = x.split(self.batch_size) if last - first > 1 else (x,)
                done = [
                    self.transform(part, self.sampler.generator(first + j, self.x.device))
                    for j, part in enumerate(parts)
                ]
                x = done[0] if len(done) == 1 else torch.cat(done)
            self.yielded = last
            yield x, self.y[b]
            first = last

    def give_back(self, batches: int) -> None:
        """The last hand-out's final `batches` were not trained on (max_steps came first): a
        checkpoint taken now resumes with them."""
        self.yielded -= batches

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.sampler.epoch, "yielded": self.yielded}

    def load_state_dict(self, state: dict[str, int]) -> None:
        # Lightning checkpoints after training on a batch and before fetching the next (a sized
        # loader needs no look-ahead), so `yielded` batches are done: resume with the next one.
        self.resume_at = (int(state["epoch"]), int(state["yielded"]))
