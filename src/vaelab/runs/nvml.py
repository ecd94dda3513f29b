"""Skip torch's NVML probe where there is no NVML: 70-100 µs of every optimiser step.

`import lightning` sets PYTORCH_NVML_BASED_CUDA_CHECK=1 (lightning/fabric/__init__.py), so
`torch.cuda.is_available()` asks NVML how many GPUs there are, to avoid initialising CUDA in a
process that may fork. Until CUDA is initialised torch does not cache the answer, and every
`Optimizer.step()` asks (its graph-capture health check, `torch.accelerator.current_accelerator(
check_available=True)`). On a machine without libnvidia-ml, each of those asks dlopens the library,
fails, and falls back to CUDA's own count (`torch.cuda._device_count_nvml` returns -1 on OSError):
the same answer as without the variable, after a failed library search each step. There, and
only there, `skip_absent_nvml()` removes the variable. Where NVML is present nothing changes.
"""

from __future__ import annotations

import ctypes
import os

VARIABLE = "PYTORCH_NVML_BASED_CUDA_CHECK"
LIBRARY = "libnvidia-ml.so.1"  # the name torch.cuda loads


def nvml_present() -> bool:
    try:
        ctypes.CDLL(LIBRARY)
    except OSError:
        return False
    return True


def skip_absent_nvml() -> bool:
    """Remove PYTORCH_NVML_BASED_CUDA_CHECK if NVML cannot be loaded; True if it did."""
    if os.environ.get(VARIABLE) != "1" or nvml_present():
        return False
    del os.environ[VARIABLE]
    return True
