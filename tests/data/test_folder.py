"""ImageFolder on small folders of real image files written here."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image

from tests.conftest import CONF
from vaelab.data import ImageFolder
from vaelab.data.folder import find_images
from vaelab.data.safety import available_memory

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
    images = [("b.png", (10, 20), (255, 0, 0)), ("a.jpeg", (9, 9), (255, 255, 255)), ("c.png", (4, 4), (0, 0, 0))]
    root = make_folder(tmp_path / "flat", images)
    x, y = ImageFolder(str(root), image_size=5, channels=1, val_size=1, test_size=1).load()["all"]
    assert x.shape == (3, 1, 5, 5)
    assert y.tolist() == [-1, -1, -1]  # no subfolders: unlabelled
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
    cfg = OmegaConf.create({"seed": 0, "data": OmegaConf.load(CONF / "data" / "folder.yaml")})
    with pytest.raises(Exception, match="root"):  # root is mandatory (???)
        instantiate(cfg.data)
    cfg.data.root, cfg.data.image_size, cfg.data.channels = str(folder), 12, 1
    assert list(cfg.data.shape) == [1, 12, 12]
    dm = instantiate(cfg.data)
    assert isinstance(dm, ImageFolder)
    dm.setup()
    assert dm.shape == (1, 12, 12) and {k: len(v[0]) for k, v in dm.splits.items()} == {"train": 8, "val": 1, "test": 1}


# ------------------------------------------------------------------ every image read at its depth


def load_one(tmp_path: Path, name: str, image, channels: int = 1, **save) -> torch.Tensor:
    """Save `image` (a PIL image) three times in a folder (the fewest one test and one val image
    allow), load them at their own size and give the first: (channels, H, W)."""
    root = tmp_path / name.split(".")[0]
    root.mkdir()
    for copy in ("a", "b", "c"):
        image.save(root / f"{copy}_{name}", **save)
    dm = ImageFolder(str(root), image_size=image.size[0], channels=channels, test_size=1, val_size=1)
    x = dm.load()["all"][0]
    assert len(x) == 3 and torch.equal(x[0], x[2])
    return x[0]


GRADIENT16 = (np.arange(256, dtype=np.uint16) * 257).reshape(16, 16)  # 0 .. 65535, every step 257


@pytest.mark.parametrize(("name", "dtype"), [("g.png", "<u2"), ("g.tif", "<u2"), ("gb.tif", ">u2")])
def test_16_bit_greyscale_is_divided_by_65535(tmp_path, name, dtype):
    image = Image.fromarray(GRADIENT16.astype(dtype))
    assert image.mode in ("I;16", "I;16B")
    expected = torch.from_numpy(GRADIENT16.astype(np.float32) / np.float32(65535))
    x = load_one(tmp_path, name, image)
    assert Image.open(next((tmp_path / name.split(".")[0]).iterdir())).mode == image.mode  # the file holds 16 bits
    assert x.shape == (1, 16, 16) and torch.allclose(x[0], expected, atol=1e-7)
    assert x.max() == 1.0 and x.min() == 0.0 and len(x.unique()) == 256  # not all 1.0 (the old 8-bit clip)
    rgb = load_one(tmp_path, "rgb_" + name, image, channels=3)
    assert rgb.shape == (3, 16, 16) and torch.equal(rgb, x.expand(3, 16, 16))


def test_16_bit_values_survive_resizing(tmp_path):
    """A mid-grey 16-bit image that is not a multiple of 257 keeps its precision when resized."""
    root = tmp_path / "big"
    root.mkdir()
    for name in "abcdefg":
        Image.fromarray(np.full((40, 30), 1000, np.uint16)).save(root / f"{name}.png")
    x = ImageFolder(str(root), image_size=8, channels=1).load()["all"][0]
    assert torch.allclose(x, torch.full((7, 1, 8, 8), 1000 / 65535), atol=1e-6)


def test_32_bit_integer_and_float_images(tmp_path):
    ints = GRADIENT16.astype(np.int32)
    x = load_one(tmp_path, "i.tif", Image.fromarray(ints))
    assert torch.allclose(x[0], torch.from_numpy(ints / 65535).float(), atol=1e-7)
    floats = np.linspace(0, 1, 256, dtype=np.float32).reshape(16, 16)
    x = load_one(tmp_path, "f.tif", Image.fromarray(floats))
    assert torch.allclose(x[0], torch.from_numpy(floats), atol=1e-7)
    for name, array, mode in [
        ("big.tif", np.full((4, 4), 70000, np.int32), "I"),
        ("neg.tif", np.full((4, 4), -1, np.int32), "I"),
        ("hot.tif", np.full((4, 4), 2.0, np.float32), "F"),
        ("nan.tif", np.full((4, 4), np.nan, np.float32), "F"),
    ]:
        with pytest.raises(ValueError) as err:
            load_one(tmp_path, name, Image.fromarray(array))
        (line,) = str(err.value).splitlines()
        assert name in line and f"mode {mode} image with values in" in line and "save it as 8- or 16-bit" in line


def test_transparency_is_composited_over_black(tmp_path):
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))  # transparent red: reads black
    rgba.putpixel((1, 0), (0, 255, 0, 255))  # opaque green
    rgba.putpixel((2, 0), (0, 0, 255, 51))  # blue at alpha 0.2
    x = load_one(tmp_path, "rgba.png", rgba, channels=3)
    assert torch.equal(x[:, 0, 0], torch.zeros(3)) and torch.equal(x[:, 0, 1], torch.tensor([0.0, 1.0, 0.0]))
    assert torch.allclose(x[:, 0, 2], torch.tensor([0.0, 0.0, 0.2]))
    la = Image.new("LA", (4, 4), (200, 128))
    assert torch.allclose(load_one(tmp_path, "la.png", la), torch.full((1, 4, 4), 200 / 255 * 128 / 255))
    # A palette image whose index 0 is transparent: those pixels read black, whatever colour index 0 is.
    p = Image.new("P", (4, 4), 0)
    p.putpalette([255, 255, 255, 10, 20, 30] + [0] * 762)
    p.putpixel((3, 3), 1)
    p.save(tmp_path / "p.png", transparency=0)
    assert Image.open(tmp_path / "p.png").info["transparency"] == 0
    x = load_one(tmp_path, "p.png", Image.open(tmp_path / "p.png"), channels=3, transparency=0)
    assert x[:, :3].sum() == 0 and torch.allclose(x[:, 3, 3], torch.tensor([10, 20, 30]) / 255)


def test_cmyk_bilevel_and_palette_images(tmp_path):
    cmyk = Image.new("CMYK", (4, 4), (0, 0, 0, 0))  # no ink: white
    cmyk.putpixel((0, 0), (255, 0, 0, 0))  # full cyan
    x = load_one(tmp_path, "c.tif", cmyk, channels=3)
    assert torch.equal(x[:, 1, 1], torch.ones(3)) and torch.equal(x[:, 0, 0], torch.tensor([0.0, 1.0, 1.0]))
    bilevel = Image.new("1", (8, 8), 0)
    bilevel.putpixel((2, 5), 1)
    x = load_one(tmp_path, "b.png", bilevel)
    assert x.sum() == 1 and x[0, 5, 2] == 1
    p = Image.new("P", (4, 4), 1)
    p.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    x = load_one(tmp_path, "pal.gif", p)
    assert round(x[0, 0, 0].item() * 255) == 76  # red in grey: 0.299 R


def test_a_mode_that_cannot_be_read_is_refused(tmp_path):
    with pytest.raises(ValueError) as err:
        load_one(tmp_path, "lab.tif", Image.new("LAB", (4, 4), (50, 0, 0)))
    (line,) = str(err.value).splitlines()
    assert "lab.tif: image mode LAB cannot be read (readable modes: 1, L, P" in line and "I;16" in line


# ------------------------------------------------------------------ too few images; where the walk may go


def test_too_few_images_says_how_many_the_splits_need(tmp_path):
    root = make_folder(tmp_path / "one", [("a.png", (8, 8), (1, 2, 3))])
    with pytest.raises(ValueError) as err:
        ImageFolder(str(root), image_size=8, val_size=0.1, test_size=0.1).setup()
    assert str(err.value) == (
        f"data=ImageFolder: data.root={root} holds 1 image; data.test_size=0.1 and data.val_size=0.1 need at "
        "least 7 (one or more each for the test, validation and training splits)"
    )
    # Counts: 2 test + 3 val + 1 train = 6; five images are refused, six are enough.
    root = make_folder(tmp_path / "five", IMAGES[:5])
    with pytest.raises(ValueError, match=r"holds 5 images; data\.test_size=2 and data\.val_size=3 need at least 6 "):
        ImageFolder(str(root), image_size=8, val_size=3, test_size=2).setup()
    make_folder(root, IMAGES[5:6])
    dm = ImageFolder(str(root), image_size=8, val_size=3, test_size=2)
    dm.setup()
    assert {k: len(v[0]) for k, v in dm.splits.items()} == {"train": 1, "val": 3, "test": 2}


def test_more_pixels_than_memory_is_refused_before_reading(folder):
    available = available_memory()
    if available is None:
        pytest.skip("available memory is not known on this system")
    side = int((available / (2 * 4 * 10 * 3)) ** 0.5) + 1  # 10 RGB images of side x side: more than memory
    with pytest.raises(ValueError) as err:
        ImageFolder(str(folder), image_size=side, channels=3).setup()
    (line,) = str(err.value).splitlines()
    assert line.startswith(f"data=ImageFolder: data.root={folder}: 10 images of 3 x {side} x {side} (data.channels")
    assert line.endswith("is available")


@pytest.mark.parametrize("target", ["/proc", "/sys", "/dev"])
def test_special_filesystems_are_refused_at_once(tmp_path, target):
    link = tmp_path / "innocent"
    link.symlink_to(target)
    for root, shown in ((target, f"data.root={target} is under {target}"), (link, f"(resolves to {target})")):
        start = time.perf_counter()
        with pytest.raises(ValueError) as err:
            ImageFolder(str(root), image_size=8).setup()
        (line,) = str(err.value).splitlines()
        assert shown in line and "not data" in line and time.perf_counter() - start < 1  # no walk
    # Inside an ordinary folder, a link leading there is refused too, not followed.
    root = make_folder(tmp_path / "pets", IMAGES)
    (root / "dog" / "more").symlink_to(target)
    with pytest.raises(ValueError, match=rf"data\.root={root / 'dog' / 'more'} \(resolves to {target}\) is under"):
        ImageFolder(str(root), image_size=8).setup()


def test_links_are_followed_once_and_pipes_are_skipped(tmp_path):
    root = make_folder(tmp_path / "pets", IMAGES)
    (root / "cat" / "loop").symlink_to(root)  # a loop: walked once, not forever
    (root / "dog" / "alias").symlink_to(root / "dog")
    os.mkfifo(root / "dog" / "pipe.png")  # opening a pipe would wait forever
    found = find_images(root)
    assert [p.relative_to(root).as_posix() for p in found] == sorted(rel for rel, _, _ in IMAGES)


def test_the_walk_is_bounded(tmp_path):
    root = make_folder(tmp_path / "pets", IMAGES)  # 10 images and 3 folders: 13 entries
    assert len(find_images(root, max_files=13)) == 10
    with pytest.raises(ValueError) as err:
        find_images(root, max_files=12)
    assert str(err.value) == (
        f"data.root={root}: more than 12 files and folders under it, the most this walk looks at; "
        "point data.root at the folder of images"
    )
    deep = root / "a" / "b" / "c" / "d"
    make_folder(deep, [("x.png", (4, 4), (0, 0, 0))])
    assert len(find_images(root, max_depth=4)) == 11
    with pytest.raises(ValueError, match=rf"^data\.root={root}: folders nested more than 3 deep \(at {deep}\)"):
        find_images(root, max_depth=3)


def test_two_links_to_one_folder_read_it_once_under_the_first_name(tmp_path):
    """Duplicates would put the same image in train and test; the first name by sort order is kept."""
    root = make_folder(tmp_path / "pets", IMAGES)
    (root / "aaa").symlink_to(root / "dog")
    found = [p.relative_to(root).as_posix() for p in find_images(root)]
    assert len(found) == 10 and sum(p.startswith("aaa/") for p in found) == 6 and not any("dog/" in p for p in found)
