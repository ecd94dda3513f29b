"""Helpers and files shared by the tests."""

from pathlib import Path

#: A checkpoint made by an earlier vaelab (see checkpoints/README.md): old honest checkpoints must keep loading.
OLD_CHECKPOINT = Path(__file__).parent / "checkpoints" / "digits_6f060a4.ckpt"
#: Format 1 (vaelab.runs.formats): the system's VAE under `model.`; it must still evaluate and resume.
FORMAT1_CHECKPOINT = Path(__file__).parent / "checkpoints" / "digits_format1_042edd8.ckpt"
