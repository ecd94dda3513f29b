"""vaelab's checkpoint IO removes one checkpoint file at a time, only where it wrote checkpoints."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from vaelab.plugins import AtomicCheckpointIO, AtomicWriter, RefusedRemoval


@pytest.fixture
def writer(tmp_path):
    writer = AtomicWriter()
    writer.save_checkpoint({"x": 1}, tmp_path / "ckpts" / "epoch_000.ckpt")
    return writer


def test_removes_a_checkpoint_it_wrote_beside(tmp_path, writer):
    writer.save_checkpoint({"x": 2}, tmp_path / "ckpts" / "epoch_001.ckpt")
    writer.remove_checkpoint(tmp_path / "ckpts" / "epoch_000.ckpt")
    assert sorted(p.name for p in (tmp_path / "ckpts").iterdir()) == ["epoch_001.ckpt"]
    writer.remove_checkpoint(str(tmp_path / "ckpts" / "gone.ckpt"))  # already gone: nothing to do


@pytest.mark.parametrize("form", ["{}", "local://{}", "file://{}"])
def test_refuses_anything_outside_its_folders(tmp_path, writer, form):
    victim = tmp_path / "notes.txt"
    victim.write_text("keep me")
    with pytest.raises(RefusedRemoval, match=r"^refused to remove .*notes.txt: vaelab removes checkpoints only in"):
        writer.remove_checkpoint(form.format(victim))
    assert victim.read_text() == "keep me"


def test_never_removes_a_folder(tmp_path, writer):
    inner = tmp_path / "ckpts" / "inner"
    inner.mkdir()
    (inner / "f").write_text("x")
    with pytest.raises(RefusedRemoval, match="a folder, not a checkpoint file"):
        writer.remove_checkpoint(inner)
    assert (inner / "f").is_file()


def test_a_symlink_is_removed_not_its_target(tmp_path, writer):
    victim = tmp_path / "notes.txt"
    victim.write_text("keep me")
    (tmp_path / "ckpts" / "link.ckpt").symlink_to(victim)
    writer.remove_checkpoint(tmp_path / "ckpts" / "link.ckpt")
    assert not (tmp_path / "ckpts" / "link.ckpt").is_symlink() and victim.read_text() == "keep me"
    # A folder reached through a symlinked folder is outside: its real path is elsewhere.
    (tmp_path / "ckpts" / "sub").symlink_to(tmp_path)
    with pytest.raises(RefusedRemoval):
        writer.remove_checkpoint(tmp_path / "ckpts" / "sub" / "notes.txt")
    assert victim.read_text() == "keep me"


def test_the_background_plugin_claims_its_folder_before_the_write(tmp_path):
    plugin = AtomicCheckpointIO()
    plugin.save_checkpoint({"x": 1}, tmp_path / "ckpts" / "a.ckpt")
    plugin.remove_checkpoint(tmp_path / "ckpts" / "b.ckpt")  # allowed at once, whatever the thread has done
    plugin.teardown()
    with pytest.raises(RefusedRemoval):
        plugin.remove_checkpoint(tmp_path / "a.ckpt")
    assert (tmp_path / "ckpts" / "a.ckpt").is_file()


def test_removes_the_spawn_and_fork_launchers_weights_file_and_no_other(tmp_path, writer, monkeypatch):
    """trainer.strategy=ddp_spawn / ddp_fork: Lightning's launcher writes rank 0's weights to
    .temp.ckpt in a fresh tempfile.mkdtemp() folder (in the worker) and removes it from here."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmpdir"))
    (tmp_path / "tmpdir").mkdir()
    handed_back = Path(tempfile.mkdtemp()) / ".temp.ckpt"
    AtomicWriter().save_checkpoint({"x": 1}, handed_back)  # another process's writer: no claim here
    writer.remove_checkpoint(handed_back)
    assert not handed_back.exists()
    for other in (Path(tempfile.mkdtemp()) / "notes.ckpt", tmp_path / "elsewhere" / ".temp.ckpt"):
        other.parent.mkdir(exist_ok=True)
        other.write_text("keep me")
        with pytest.raises(RefusedRemoval):
            writer.remove_checkpoint(other)
        assert other.read_text() == "keep me"
