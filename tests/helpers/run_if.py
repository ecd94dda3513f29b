"""RunIf: skip a test unless this machine has what it needs (after lightning-hydra-template's
tests/helpers/run_if.py, which follows Lightning's own).

    @RunIf(min_gpus=1)
    def test_on_a_gpu(): ...

    @RunIf(min_gpus=2, bf16=True)
    def test_two_gpus_with_bfloat16(): ...

It returns one `pytest.mark.skipif` whose reason names everything missing ("Requires: [GPUs>=2
(found 0)]"), so a skipped test says why in `pytest -ra`'s summary. Tests that need a GPU also
carry the `gpu` marker (registered in pyproject.toml): `pytest -m gpu` runs only them.
"""

from __future__ import annotations

import sys

import pytest
import torch
from packaging.version import Version


def cuda_devices() -> int:
    """CUDA devices torch can use here (0 without CUDA, or when torch was built without it)."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def bf16_supported() -> bool:
    """A CUDA GPU with bfloat16 arithmetic (Ampere or newer)."""
    return cuda_devices() > 0 and torch.cuda.is_bf16_supported()


class RunIf:
    """A skipif mark for what a test needs: min_gpus, bfloat16 on the GPU, torch and Python versions."""

    def __new__(
        cls,
        min_gpus: int = 0,
        bf16: bool = False,
        min_torch: str | None = None,
        max_torch: str | None = None,
        min_python: str | None = None,
        **kwargs,
    ) -> pytest.MarkDecorator:
        conditions: list[tuple[bool, str]] = []
        if min_gpus:
            found = cuda_devices()
            conditions.append((found < min_gpus, f"GPUs>={min_gpus} (found {found})"))
        if bf16:
            conditions.append((not bf16_supported(), "a CUDA GPU with bfloat16"))
        torch_version = Version(torch.__version__.split("+")[0])
        if min_torch:
            conditions.append((torch_version < Version(min_torch), f"torch>={min_torch}"))
        if max_torch:
            conditions.append((torch_version >= Version(max_torch), f"torch<{max_torch}"))
        if min_python:
            python = Version(".".join(map(str, sys.version_info[:3])))
            conditions.append((python < Version(min_python), f"python>={min_python}"))
        missing = [reason for failed, reason in conditions if failed]
        return pytest.mark.skipif(bool(missing), reason=f"Requires: [{' + '.join(missing)}]", **kwargs)
