"""What a data module implements for vaelab: a LightningDataModule with a little more.

vaelab's own (data/base.py's InMemoryDataModule and its sources) implement all of it; a
researcher's LightningDataModule needs only the first two points:
- `train_dataloader`, `val_dataloader`, `test_dataloader` yield batches `(x, y)`, x of shape
  (B, *data_shape) (y may be anything: labels, factors, zeros);
- the config's `data.shape` says data_shape (the model configs read it);
- optionally `data_range(split) -> (min, max)` and `splits[split] = (x, y)` after `setup`, so that
  a likelihood that cannot model the data is refused before training (vaelab.runs.train.check_data_fits);
- optionally `source`, a vaelab.data.factors.FactorSource, for the disentanglement scores.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class DataModule(Protocol):
    def setup(self, stage: str | None = None) -> None: ...

    def train_dataloader(self) -> Any: ...

    def val_dataloader(self) -> Any: ...

    def test_dataloader(self) -> Any: ...


@runtime_checkable
class ChecksData(Protocol):
    """A data module that can say the range of a split (and hold its tensors), for the early check."""

    splits: dict[str, tuple[Any, Any]]

    def data_range(self, split: str = "train") -> tuple[float, float]: ...
