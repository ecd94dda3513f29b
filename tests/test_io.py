"""vaelab.runs.io: files are whole or absent, and a full disk raises DiskFullError naming the file.

The full disk is real: a small tmpfs mounted for the test (as root, which the tests run as
here and in CI), filled up to its last page.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

import pytest
import torch

from tests.conftest import fill
from vaelab.errors import DiskFullError
from vaelab.plugins import AtomicCheckpointIO, AtomicWriter
from vaelab.runs.io import append_line, write_json, write_text
from vaelab.runs.train import train

KiB = 1024


def disk_full_message(path: Path) -> str:
    return f"no space left on device while writing {path} (free some space, or point paths.log_dir elsewhere)"


def test_write_text_replaces_the_file_whole(tmp_path):
    target = tmp_path / "status.json"
    write_text(target, "old\n")
    write_json(target, {"state": "finished", "a": 1})
    assert target.read_text() == '{\n  "a": 1,\n  "state": "finished"\n}\n'
    assert os.listdir(tmp_path) == ["status.json"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask  # as open() makes it, not mkstemp's 0600


@pytest.mark.parametrize(
    "write, content",
    [(write_text, "a newer, longer status\n" * 10), (write_json, {"state": "failed", "error": "x" * 200})],
    ids=["write_text", "write_json"],
)
def test_a_full_disk_names_the_file_and_keeps_the_old_one(tmpfs, write, content):
    disk = tmpfs(64 * KiB)
    target = disk / "status.json"
    write_json(target, {"state": "running"})
    old = target.read_bytes()
    fill(disk)

    with pytest.raises(DiskFullError) as err:
        write(target, content)
    assert str(err.value) == disk_full_message(target)
    assert err.value.errno == errno.ENOSPC and err.value.__cause__.errno == errno.ENOSPC
    assert target.read_bytes() == old
    assert sorted(os.listdir(disk)) == ["filler", "status.json"]  # no temporary file left

    (disk / "filler").unlink()
    write(target, content)
    assert target.read_bytes() != old
    assert sorted(os.listdir(disk)) == ["status.json"]


def test_history_gains_whole_lines_or_nothing(tmpfs):
    disk = tmpfs(64 * KiB)
    history = disk / "history.jsonl"
    append_line(history, '{"epoch": 0}')
    fill(disk)
    # The file's one page has room for part of this line only: the write stops midway.
    with pytest.raises(DiskFullError) as err:
        append_line(history, json.dumps({"epoch": 1, "note": "x" * 8000}))
    assert str(err.value) == disk_full_message(history)
    assert history.read_text() == '{"epoch": 0}\n'


def test_checkpoint_is_written_as_lightning_writes_it(tmp_path):
    io = AtomicWriter()
    path = tmp_path / "checkpoints" / "last.ckpt"  # the directory is made, as Lightning does
    io.save_checkpoint({"state_dict": {"w": torch.arange(3.0)}}, path)
    assert torch.equal(io.load_checkpoint(path, weights_only=True)["state_dict"]["w"], torch.arange(3.0))
    assert os.listdir(path.parent) == ["last.ckpt"]
    with pytest.raises(TypeError, match="storage_options"):
        io.save_checkpoint({}, path, storage_options={"compress": True})


def test_a_checkpoint_too_big_for_the_disk_leaves_the_good_one(tmpfs):
    disk = tmpfs(1024 * KiB)
    io = AtomicWriter()
    last = disk / "checkpoints" / "last.ckpt"
    io.save_checkpoint({"state_dict": {"w": torch.arange(10.0)}, "epoch": 0}, last)
    too_big = {"state_dict": {"w": torch.zeros(2**20)}, "epoch": 1}  # 4 MiB

    for path in (last, disk / "checkpoints" / "epoch_001.ckpt"):
        with pytest.raises(DiskFullError) as err:
            io.save_checkpoint(too_big, path)
        assert str(err.value) == disk_full_message(path)
    assert os.listdir(last.parent) == ["last.ckpt"]  # no truncated epoch_001.ckpt, no temporary file
    good = torch.load(last, weights_only=True)
    assert good["epoch"] == 0 and torch.equal(good["state_dict"]["w"], torch.arange(10.0))


def test_background_writes_land_in_order_and_the_first_failure_is_reported(tmpfs):
    disk = tmpfs(1024 * KiB)
    io = AtomicCheckpointIO()  # what the trainer uses: writes in a worker thread
    last = disk / "checkpoints" / "last.ckpt"
    w = torch.arange(10.0)
    for epoch in range(3):
        io.save_checkpoint({"state_dict": {"w": w}, "epoch": epoch}, last)
        w.add_(1)  # the training thread goes on changing the weights: the copy taken at save is written
    io.teardown()  # waits for the writes
    good = torch.load(last, weights_only=True)
    assert good["epoch"] == 2 and torch.equal(good["state_dict"]["w"], torch.arange(10.0) + 2)

    too_big = {"state_dict": {"w": torch.zeros(2**20)}, "epoch": 3}  # 4 MiB
    first = disk / "checkpoints" / "epoch_003.ckpt"
    with pytest.raises(DiskFullError) as err:  # at the next save or, at the latest, when the fit ends
        io.save_checkpoint(too_big, first)
        io.save_checkpoint(too_big, last)  # behind the failing write: not attempted
        io.teardown()
    assert str(err.value) == disk_full_message(first)
    assert os.listdir(last.parent) == ["last.ckpt"] and torch.load(last, weights_only=True)["epoch"] == 2


def test_training_onto_a_full_disk_fails_naming_the_checkpoint(tmpfs, cfg_factory):
    # Room for config.yaml, images and history.jsonl (~50 KiB) but not for a checkpoint (~4 MiB).
    disk = tmpfs(512 * KiB)
    cfg = cfg_factory(f"paths.output_dir={disk}/run")
    with pytest.raises(DiskFullError) as err:
        train(cfg)
    run = disk / "run"
    assert str(err.value) == disk_full_message(run / "checkpoints" / "epoch_000.ckpt")
    assert (run / "config.yaml").is_file() and (run / "history.jsonl").is_file()  # it failed at the checkpoint
    status = json.loads((run / "status.json").read_text())
    assert status == {"state": "failed", "error": str(err.value)}
    files = [p for p in run.rglob("*") if p.is_file()]
    assert not [p for p in files if p.name.endswith(".tmp")]
    for ckpt in [p for p in files if p.suffix == ".ckpt"]:
        torch.load(ckpt, weights_only=True)  # any checkpoint under a .ckpt name loads
