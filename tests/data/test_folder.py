"""ImageFolder on small folders of real image files written here."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image

from vaelab.data import ImageFolder

ROOT = Path(__file__).resolve().parents[2]
# (relative path, size (w, h), solid RGB colour); solid colours survive resizing exactly.
IMAGES = [
    ("cat/a.png", (40, 30), (255, 0, 0)),
    ("cat/b.png", (20, 50), (0, 128, 255)),
    ("cat/sub/c.PNG", (16, 16), (10, 20, 30)),  # nested deeper, upper-case extension: still "cat"
    ("cat/d.bmp", (33, 17), (200, 200, 0)),
    ("dog/e.png", (64, 64), (0, 255, 0)),
    ("dog/f.gif", (12, 24), (0, 0, 0)),
    ("dog/g.png", (100, 10), (255, 255, 255)),
    ("dog/h.webp", (25, 25), (90, 90, 90)),
    ("dog/i.png", (31, 47), (1, 2, 3)),
    ("dog/j.png", (8, 8), (128, 64, 32)),
]


def make_folder(root: Path, images=IMAGES) -> Path:
    for rel, size, colour in images:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        kwargs = {"lossless": True} if path.suffix == ".webp" else {}
        Image.new("RGB", size, colour).save(path, **kwargs)
    return root


@pytest.fixture
def folder(tmp_path) -> Path:
    root = make_folder(tmp_path / "pets")
    (root / "notes.txt").write_text("not an image")  # other files are ignored
    (root / "cat" / "._a.png").write_bytes(b"\x00\x05macOS resource fork")  # hidden: ignored
    return root


def test_load_shape_values_labels(folder):
    dm = ImageFolder(str(folder), image_size=16, channels=3)
    x, y = dm.load()["all"]
    assert x.shape == (10, 3, 16, 16) and x.dtype == torch.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert dm.classes == ["cat", "dog"]
    assert y.dtype == torch.int64 and y.tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 1, 1]
    # Sorted by path, each image is its colour everywhere, channels in RGB order.
    for i, (rel, _, colour) in enumerate(sorted(IMAGES)):  # cat/d.bmp before cat/sub/c.PNG
        expected = torch.tensor(colour, dtype=torch.float32).div(255).view(3, 1, 1).expand(3, 16, 16)
        assert torch.allclose(x[i], expected, atol=1e-6), rel


def test_grey_and_flat_folder(tmp_path):
    root = make_folder(tmp_path / "flat", [("b.png", (10, 20), (255, 0, 0)), ("a.jpeg", (9, 9), (255, 255, 255))])
    x, y = ImageFolder(str(root), image_size=5, channels=1).load()["all"]
    assert x.shape == (2, 1, 5, 5)
    assert y.tolist() == [-1, -1]  # no subfolders: unlabelled
    assert torch.allclose(x[0], torch.ones(1, 5, 5), atol=2 / 255)  # a.jpeg: white (JPEG is lossy)
    assert round(x[1, 0, 2, 2].item() * 255) == 76  # b.png: red in PIL's L = 0.299 R


def test_setup_splits_are_deterministic(folder):
    dm = ImageFolder(
        str(folder), image_size=8, channels=3, val_size=0.1, test_size=0.2, batch_size=4, seed=1, shape=[3, 8, 8]
    )
    dm.setup()
    assert {k: len(v[0]) for k, v in dm.splits.items()} == {"train": 7, "val": 1, "test": 2}
    assert sorted(torch.cat([v[1] for v in dm.splits.values()]).tolist()) == [0] * 4 + [1] * 6
    again = ImageFolder(str(folder), image_size=8, channels=3, val_size=0.1, test_size=0.2, seed=1)
    again.setup()
    for split in ("train", "val", "test"):
        assert torch.equal(again.splits[split][0], dm.splits[split][0])
    xb, yb = next(iter(dm.train_dataloader()))
    assert xb.shape == (4, 3, 8, 8) and yb.shape == (4,)


def test_empty_folder(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "readme.txt").write_text("hi")
    with pytest.raises(ValueError) as err:
        ImageFolder(str(tmp_path / "empty"), image_size=8).load()
    assert str(tmp_path / "empty") in str(err.value) and ".png" in str(err.value) and ".webp" in str(err.value)


def test_unreadable_image_is_named(folder):
    (folder / "dog" / "broken.jpg").write_bytes(b"this is not a jpeg")
    with pytest.raises(ValueError, match=r"broken\.jpg: not a readable image"):
        ImageFolder(str(folder), image_size=8).load()


def test_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"data\.root=.*nope"):
        ImageFolder(str(tmp_path / "nope"), image_size=8).setup()


def test_config_instantiates(folder):
    cfg = OmegaConf.create({"seed": 0, "data": OmegaConf.load(ROOT / "conf/data/folder.yaml")})
    with pytest.raises(Exception, match="root"):  # root is mandatory (???)
        instantiate(cfg.data)
    cfg.data.root, cfg.data.image_size, cfg.data.channels = str(folder), 12, 1
    assert list(cfg.data.shape) == [1, 12, 12]
    dm = instantiate(cfg.data)
    assert isinstance(dm, ImageFolder)
    dm.setup()
    assert dm.shape == (1, 12, 12) and {k: len(v[0]) for k, v in dm.splits.items()} == {"train": 8, "val": 1, "test": 1}
