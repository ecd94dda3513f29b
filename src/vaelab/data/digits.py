"""scikit-learn's bundled 8x8 handwritten digits (1797 images): runs that take seconds."""

from __future__ import annotations

import numpy as np
import torch

from vaelab.data.base import InMemoryDataModule, Split


class Digits(InMemoryDataModule):
    def load(self) -> dict[str, Split]:
        from sklearn.datasets import load_digits

        digits = load_digits()
        x = torch.from_numpy((digits.images / 16.0).astype(np.float32)).unsqueeze(1)  # (1797, 1, 8, 8) in [0, 1]
        return {"all": (x, torch.from_numpy(digits.target.astype(np.int64)))}
