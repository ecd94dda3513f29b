"""The OOD tests' tensors are tiny (8x8 images, a 3-D latent space)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """A second intra-op thread only costs here, and on a busy machine spinning threads made
    the training fixture twenty times slower (41 s against 2 s)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
