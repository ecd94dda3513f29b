"""vaelab.data.safety: where data may not come from, memory, and errors that never quote a file."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest
from PIL import Image

from vaelab.conf import CONF_DIR
from vaelab.data import ImageFolder
from vaelab.data.prepare import main as prepare_main
from vaelab.data.safety import available_memory, check_fits, error_kind, parse_mounts, special

ROOT = Path(__file__).resolve().parents[2]
TABLE = parse_mounts(
    "/dev/vda / ext4 rw 0 0\n"
    "proc /proc proc rw 0 0\n"
    "proc /srv/host\\040proc proc rw 0 0\n"  # a second /proc, elsewhere, with a space in its name
    "tmpfs /dev/shm tmpfs rw 0 0\n"
    "sysfs /sys sysfs rw 0 0\n"
    "nfs:/data /data nfs rw 0 0\n"
)


def test_special_paths():
    assert TABLE[0] == ("/srv/host proc", "proc")  # longest mount point first, \040 decoded
    cases = {
        "/proc": "under /proc",
        "/proc/self/environ": "under /proc",
        "/sys/kernel": "under /sys",
        "/dev/zero": "under /dev",
        "/srv/host proc/1/maps": "on a proc filesystem",
        "/dev/shm/images": None,  # a RAM disk: data may live there
        "/data/images": None,
        "/home/me/images": None,
        "/processed": None,  # only /proc itself and below, not a name starting with it
        "/device-data": None,
    }
    assert {path: special(path, TABLE) for path in cases} == cases


def test_memory_checks_and_error_text():
    assert available_memory() is None or available_memory() > 0
    check_fits("data.path=x", 10, available=10)  # fits exactly: no error
    with pytest.raises(ValueError) as err:
        check_fits("data.path=x: shape [5]", 2_500_000_000, available=1_000_000_000)
    assert str(err.value) == (
        "data.path=x: shape [5]: loading it needs about 2.5 GB of memory (2500000000 bytes), but 1.0 GB is available"
    )
    assert error_kind(ValueError("expected b'\\x93NUMPY', got b'root:x'")) == "ValueError"
    assert error_kind(PermissionError(13, "Permission denied", "/x")) == "PermissionError: Permission denied"


def test_a_folder_on_the_ram_disk_is_data(tmp_path):
    shm = Path("/dev/shm")
    if not shm.is_dir():
        pytest.skip("no /dev/shm here")
    root = shm / f"vaelab-test-{uuid.uuid4().hex}"
    try:
        root.mkdir()
        for i in range(7):
            Image.new("L", (4, 4), 30 * i).save(root / f"{i}.png")
        dm = ImageFolder(str(root), image_size=4, channels=1)
        dm.setup()
        assert sum(len(x) for x, _ in dm.splits.values()) == 7
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_the_prepare_command_refuses_proc_in_one_line(capsys):
    code = prepare_main(["data=folder", "data.root=/proc"], config_dir=str(CONF_DIR))
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and line.startswith("error: data.root=/proc is under /proc, which holds kernel state or devices")
