"""vaelab.runs.nvml: the NVML probe is dropped only where NVML is absent, and the answer stays."""

from __future__ import annotations

import os

import lightning.pytorch  # noqa: F401  (sets PYTORCH_NVML_BASED_CUDA_CHECK=1, as in every run)
import pytest
import torch

from vaelab.runs import nvml


@pytest.fixture
def probes(monkeypatch) -> list[int]:
    """The variable set as Lightning sets it, and a record of each NVML probe torch makes."""
    monkeypatch.setenv(nvml.VARIABLE, "1")
    calls: list[int] = []
    real = torch.cuda._raw_device_count_nvml

    def counted() -> int:
        calls.append(1)
        return real()

    monkeypatch.setattr(torch.cuda, "_raw_device_count_nvml", counted)
    return calls


def test_without_nvml_an_optimiser_step_no_longer_probes_and_torch_answers_the_same(probes):
    if nvml.nvml_present():
        pytest.skip("this machine has NVML: the variable stays (next test)")
    weight = torch.nn.Parameter(torch.ones(3))
    optimizer = torch.optim.Adam([weight], fused=True)
    weight.grad = torch.ones(3)
    before = torch.cuda.is_available(), torch.cuda.device_count()
    optimizer.step()
    assert len(probes) > 0  # each step asked NVML, which is not there
    assert nvml.skip_absent_nvml() is True
    assert nvml.VARIABLE not in os.environ
    probes.clear()
    optimizer.step()
    assert probes == []
    assert (torch.cuda.is_available(), torch.cuda.device_count()) == before
    assert nvml.skip_absent_nvml() is False  # once is enough


def test_with_nvml_or_without_the_variable_nothing_changes(probes, monkeypatch):
    if nvml.nvml_present():
        assert nvml.skip_absent_nvml() is False
        assert os.environ[nvml.VARIABLE] == "1"
    monkeypatch.delenv(nvml.VARIABLE)
    assert nvml.skip_absent_nvml() is False
    assert nvml.VARIABLE not in os.environ
