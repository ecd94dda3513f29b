"""Data with ground-truth factors: the interface a factor source implements, and its data module.

A factor source knows the generative factors behind every image (Higgins et al., 2017, sec. 4;
disentanglement_lib's `GroundTruthData`): F discrete factors, factor f taking `factor_sizes[f]`
values indexed 0..size-1, and a deterministic `render(factors)` from factor indices to images.
Its images form the full grid of prod(factor_sizes) combinations; combination index = the
mixed-radix number of the factor indices, the last factor varying fastest (as dSprites' rows).

`FactorDataModule` keeps `splits[s] = (x, y)` as every data module does, with y the label
(the shape factor, for latent maps coloured by class), and adds `factors[s]` (n, F) int64 and
`source`. Its x is a `FactorImages`: indexing it renders, so a split costs its factor indices
(40 bytes an example) instead of its pixels (16 KB at 64x64 float), batches are rendered on the
training device, and the loaders, DDP sharding and mid-epoch resume of `TensorLoader` apply as is.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Literal

import numpy as np
import torch

from vaelab.config.types import Size
from vaelab.data.base import InMemoryDataModule
from vaelab.errors import DataError


class FactorSource(ABC):
    """Images from discrete ground-truth factors."""

    factor_names: tuple[str, ...]
    factor_sizes: tuple[int, ...]
    #: The shape of one image (C, H, W), and the factor used as the label y (None: y = -1).
    image_shape: tuple[int, int, int]
    label_factor: str | None = "shape"
    #: Every rendered value lies in this range and both ends occur (binary images, colours in [0, 1]).
    value_range: tuple[float, float] = (0.0, 1.0)

    @property
    def num_combinations(self) -> int:
        return math.prod(self.factor_sizes)

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n combinations, each factor drawn uniformly and independently: (n, F) int64."""
        return np.stack([rng.integers(0, k, size=n) for k in self.factor_sizes], axis=1).astype(np.int64)

    def factors_of(self, index: torch.Tensor) -> torch.Tensor:
        """Combination indices (n,) -> factor indices (n, F), last factor fastest."""
        out, rest = [], index.long()
        for k in reversed(self.factor_sizes):
            out.append(rest % k)
            rest = rest // k
        return torch.stack(out[::-1], dim=1)

    def index_of(self, factors: torch.Tensor) -> torch.Tensor:
        """Factor indices (n, F) -> combination indices (n,)."""
        index = torch.zeros(len(factors), dtype=torch.long, device=factors.device)
        for f, k in enumerate(self.factor_sizes):
            index = index * k + factors[:, f]
        return index

    def check_factors(self, factors: np.ndarray | torch.Tensor) -> torch.Tensor:
        """`factors` as a long tensor (n, F) (numpy arrays go to the CPU), refused when out of the grid."""
        factors = torch.as_tensor(factors).long()
        sizes = torch.tensor(self.factor_sizes, device=factors.device)
        if factors.ndim != 2 or factors.shape[1] != len(sizes):
            raise DataError(f"factors have shape {list(factors.shape)}; need (n, {len(sizes)}): {self.factor_names}")
        if len(factors) and ((factors < 0) | (factors >= sizes)).any():
            raise DataError(
                f"factor indices out of range; factor_sizes are {dict(zip(self.factor_names, self.factor_sizes))}"
            )
        return factors

    def labels(self, factors: torch.Tensor) -> torch.Tensor:
        if self.label_factor is None:
            return torch.full((len(factors),), -1, dtype=torch.long, device=factors.device)
        return factors[:, self.factor_names.index(self.label_factor)].clone()

    @abstractmethod
    def render(self, factors: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Images (n, C, H, W) float32 in `value_range`, on the device of `factors` (CPU for numpy)."""


class FactorImages:
    """The images of a split, rendered from its factors when indexed: a read-only stand-in for
    the (N, C, H, W) tensor of a split, with what data modules and loaders use of one
    (len, shape, dtype, device, indexing, to)."""

    dtype = torch.float32

    def __init__(self, source: FactorSource, factors: torch.Tensor):
        self.source, self.factors = source, factors  # factors: (N, F) long

    def __len__(self) -> int:
        return len(self.factors)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.factors), *self.source.image_shape))

    @property
    def device(self) -> torch.device:
        return self.factors.device

    def __getitem__(self, index) -> torch.Tensor:
        factors = self.factors[index]
        if factors.ndim == 1:  # one example, as x[i] of a tensor: (C, H, W)
            return self.source.render(factors.unsqueeze(0))[0]
        return self.source.render(factors)

    def to(self, device) -> FactorImages:
        return FactorImages(self.source, self.factors.to(device))


def split_count(size: int | float | None, total: int) -> int | None:
    """A count, or a fraction (< 1) of `total`; None stays None (the rest)."""
    if size is None:
        return None
    return int(round(size * total)) if isinstance(size, float) and size < 1 else int(size)


class FactorDataModule(InMemoryDataModule):
    """Train/val/test: disjoint sets of factor combinations drawn (seeded) from the full grid.

    test_size and val_size: counts or fractions of the grid; train_size likewise, or None for
    every combination the other two left. `binarize` must be "none": the sources are binary
    already, or colour, and batches are rendered, so there is no stored split to binarise."""

    def __init__(self, train_size: Size | None = None, binarize: Literal["none"] = "none", **kwargs):
        super().__init__(binarize=binarize, **kwargs)
        self.train_size = train_size
        self.factors: dict[str, torch.Tensor] = {}
        self.source: FactorSource | None = None

    def make_source(self) -> FactorSource:
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        source = self.source = self.make_source()
        total = source.num_combinations
        sizes = {
            "test": split_count(self.test_size, total),
            "val": split_count(self.val_size, total),
        }
        rest = total - sizes["test"] - sizes["val"]
        sizes["train"] = rest if self.train_size is None else split_count(self.train_size, total)
        if min(sizes.values()) < 1 or sum(sizes.values()) > total:
            given = ", ".join(f"data.{s}_size={getattr(self, s + '_size')}" for s in ("train", "val", "test"))
            raise DataError(
                f"{given}: take {sizes['train']}, {sizes['val']} and {sizes['test']} of the {total} factor "
                f"combinations of data={self.name}; each must be at least 1 and together at most {total}"
            )
        # One permutation of the grid, cut in three: the splits never share a combination, and the
        # test split is the same whatever the train and val sizes.
        order = torch.randperm(total, generator=torch.Generator().manual_seed(self.seed))
        start = 0
        for split in ("test", "val", "train"):
            factors = source.factors_of(order[start : start + sizes[split]])
            start += sizes[split]
            self.factors[split] = factors
            self.splits[split] = (FactorImages(source, factors), source.labels(factors))
        self._check_shape()

    def data_range(self, split: str = "train") -> tuple[float, float]:
        """The source's value range: rendering every image to find it would cost a pass over the data."""
        if split not in self.splits:
            raise DataError(f"data={self.name}: the {split} split is not loaded (loaded: {', '.join(self.splits)})")
        return self.source.value_range
