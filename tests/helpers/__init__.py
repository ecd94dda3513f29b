"""Helpers and files shared by the tests."""

from pathlib import Path

#: A checkpoint made by an earlier vaelab (see checkpoints/README.md): old honest checkpoints must keep loading.
OLD_CHECKPOINT = Path(__file__).parent / "checkpoints" / "digits_6f060a4.ckpt"
