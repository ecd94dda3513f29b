"""Shared fixtures: compose the real config with CPU, tiny, temporary-directory overrides."""

from __future__ import annotations

import copy
import errno
import os
import subprocess
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from vaelab.conf import CONF_DIR

ROOT = Path(__file__).resolve().parents[1]
CONF = CONF_DIR
# The real MNIST 10k test split that the workplace keeps beside the repository.
SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist"
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

# One thread per test process, and per process a test starts: the tests' tensors are small, so
# threads cost more than they bring, and `make test` runs two test processes on two cores.
os.environ["OMP_NUM_THREADS"] = "1"
torch.set_num_threads(1)

# Tests never reach the network: W&B records offline, downloads are off.
os.environ["WANDB_MODE"] = "offline"
os.environ.setdefault("WANDB_SILENT", "true")

# A Gaussian likelihood on unbinarised data at lr 1e4: the loss stops being finite within 3 epochs.
DIVERGING = [
    "likelihood=gaussian",
    "data.binarize=none",
    "optimizer.lr=1e4",
    "trainer.limit_train_batches=null",
    "trainer.max_epochs=3",
]
# Overrides that make any run small: one CPU process, a few batches, no network, a temp dir.
TINY = [
    "trainer=cpu",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=3",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "trainer.enable_model_summary=false",
    "logger=none",
    "++callbacks.rich_progress_bar=null",
    "eval.num_samples=4",
    "model.latent_dim=4",
]


# train.yaml composed once per distinct set of group choices in a test process: Hydra reads and
# merges some 20 files each time (0.2-0.4 s, much of a short test). Hydra applies a `a.b=value`
# override after composing the groups, with OmegaConf.update (ConfigLoaderImpl); a copy of the
# groups' config updated the same way with the same parsed values is the config compose gives.
# Anything else (a group, +, ~, a sweep, hydra.*) is part of the cache key, and whatever the copy
# cannot take is composed by Hydra, which says what is wrong.
_composed: dict[tuple[str, ...], DictConfig] = {}


def _value_override(word: str):
    """Hydra's parsed override for a plain `key=value` word of a setting; None for any other word."""
    key = word.partition("=")[0]
    if word.startswith(("+", "~")) or key.startswith("hydra") or "@" in key or (CONF / key).is_dir():
        return None
    try:
        (override,) = OverridesParser.create().parse_overrides([word])
    except Exception:  # not valid: Hydra's own compose says so
        return None
    return None if override.is_sweep_override() else override


def compose_config(tmp_path: Path, *overrides: str) -> DictConfig:
    words = [
        f"paths.root_dir={ROOT}",
        f"paths.output_dir={tmp_path / 'run'}",
        f"paths.log_dir={tmp_path / 'logs'}",
        f"paths.data_dir={tmp_path / 'data'}",
        *overrides,
    ]
    values = [_value_override(w) for w in words]
    groups = tuple(w for w, v in zip(words, values) if v is None)
    try:
        if groups not in _composed:
            with initialize_config_dir(str(CONF), version_base="1.3"):
                _composed[groups] = compose("train", overrides=list(groups))
        cfg = copy.deepcopy(_composed[groups])
        for override in (v for v in values if v is not None):
            OmegaConf.update(cfg, override.key_or_group, override.value(), merge=True)
        return cfg
    except Exception:
        pass
    with initialize_config_dir(str(CONF), version_base="1.3"):
        return compose("train", overrides=words)


@pytest.fixture
def cfg_factory(tmp_path):
    """cfg_factory(*overrides) -> a tiny composed config writing into tmp_path."""

    def factory(*overrides: str) -> DictConfig:
        extra = [] if any(o.startswith("data=") for o in overrides) else ["data=digits"]
        return compose_config(tmp_path, *TINY, *extra, *overrides)

    return factory


@pytest.fixture(scope="session")
def fashion_mnist_dir() -> Path:
    if not (FASHION_MNIST / "train-images-idx3-ubyte.gz").is_file():
        pytest.fail(
            f"Fashion-MNIST is not installed in {FASHION_MNIST}: run `make data` (apt-get install -y dataset-fashion-mnist)"
        )
    return FASHION_MNIST


@pytest.fixture(scope="session")
def mnist_test_split() -> Path:
    if not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"the real MNIST test split is not beside the repository ({SHARED_MNIST})")
    return SHARED_MNIST


@pytest.fixture
def mnist_dir(tmp_path, mnist_test_split) -> Path:
    """A data_dir holding the real MNIST test split under both the train and test names."""
    d = tmp_path / "mnist"
    d.mkdir()
    for kind in ("images-idx3", "labels-idx1"):
        src = mnist_test_split / f"t10k-{kind}-ubyte.gz"
        (d / f"t10k-{kind}-ubyte.gz").symlink_to(src)
        (d / f"train-{kind}-ubyte.gz").symlink_to(src)
    return d


@pytest.fixture(scope="session")
def postgres_server():
    """The URL of a throwaway PostgreSQL server for the session (tests/helpers/postgres.py)."""
    from tests.helpers.postgres import bin_dir, postgres_server

    if bin_dir() is None:
        pytest.skip("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): apt-get install postgresql")
    with postgres_server() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_server):
    """postgresql://... of a new, empty database of its own on the session's PostgreSQL server."""
    import uuid

    from tests.helpers.postgres import create_database

    return create_database(postgres_server, f"test_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def tmpfs(tmp_path):
    """tmpfs(size) -> the mount point of a new tmpfs of `size` bytes, unmounted after the test."""
    mounted: list[Path] = []

    def mount(size: int) -> Path:
        point = tmp_path / f"tmpfs{len(mounted)}"
        point.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)], capture_output=True, text=True
        )
        if done.returncode != 0:
            reason = done.stderr.strip()
            if os.geteuid() != 0 or any(s in reason.lower() for s in ("permission", "not permitted", "only root")):
                pytest.skip(f"cannot mount a tmpfs here: {reason}")
            pytest.fail(f"mount -t tmpfs failed: {reason}")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", str(point)], check=True)


def fill(directory: Path) -> None:
    """Take every free block of the file system that holds `directory` (into a file "filler")."""
    fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        with pytest.raises(OSError) as full:
            while True:
                os.write(fd, bytes(64 * 1024))
        assert full.value.errno == errno.ENOSPC
    finally:
        os.close(fd)
    assert os.statvfs(directory).f_bavail == 0


def pytest_configure(config):
    """`make test` (`-n 2 --dist loadfile`) hands out whole files in the order of collection
    (see below). pytest-xdist 3.6 and later reorder the files by their number of tests unless
    told not to, which leaves a long file of few slow tests (docs, DDP, the wheel) for the end."""
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config, items):
    """Files with slow tests first, the most slow tests first: `make test` sends whole files to
    its two processes, and the many short files then fill in at the end instead of one long
    file running alone."""
    slow: dict[Path, int] = {}
    for item in items:
        if item.get_closest_marker("slow"):
            slow[item.path] = slow.get(item.path, 0) + 1
    items.sort(key=lambda item: -slow.get(item.path, 0))
