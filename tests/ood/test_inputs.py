"""OOD inputs in the model's data space: shape refusal in one line, resizing by luma and
bilinear antialiasing (checked against PIL), binarisation by the datamodule's own test transform."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from vaelab.data import CIFAR10, Digits
from vaelab.data.shapes import resize
from vaelab.ood.inputs import check_fits, ood_test_split


def test_another_shape_is_refused_in_one_line_naming_both_shapes():
    with pytest.raises(ValueError) as err:
        check_fits([1, 28, 28], [3, 32, 32], "ood=cifar10", resize_to_model=False)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("ood=cifar10: ") and "[3, 32, 32]" in message and "[1, 28, 28]" in message
    assert "ood_resize=true" in message
    # Vectors, or images of other channel counts, cannot be converted even when asked.
    with pytest.raises(ValueError, match=r"ood=v: the data have shape \[10\].*cannot be converted"):
        check_fits([1, 28, 28], [10], "ood=v", resize_to_model=True)
    with pytest.raises(ValueError, match=r"ood=v:.*\[12\]"):
        check_fits([10], [12], "ood=v", resize_to_model=False)
    check_fits([1, 28, 28], [3, 32, 32], "ood=cifar10", resize_to_model=True)  # convertible: no error


def test_the_shape_is_refused_before_any_file_is_read(tmp_path):
    missing = tmp_path / "no_cifar"
    with pytest.raises(ValueError, match=r"ood=cifar10: .*\[3, 32, 32\].*\[1, 28, 28\]"):
        ood_test_split(
            CIFAR10(str(missing), download=False, shape=[3, 32, 32]), [1, 28, 28], binarize="none", where="ood=cifar10"
        )
    # With the resize asked for, the next thing it does is read the files: they are missing.
    with pytest.raises(FileNotFoundError):
        ood_test_split(
            CIFAR10(str(missing), download=False, shape=[3, 32, 32]),
            [1, 28, 28],
            binarize="none",
            resize_to_model=True,
            where="ood=cifar10",
        )


def test_resize_colour_to_grey_by_luma_and_bilinear_antialias_like_pil():
    g = torch.Generator().manual_seed(0)
    colours = torch.rand(5, 3, generator=g)  # one flat colour per image
    flat = colours[:, :, None, None].expand(5, 3, 32, 32)
    out = resize(flat, [1, 28, 28])
    assert out.shape == (5, 1, 28, 28)
    luma = colours.double() @ torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64)
    torch.testing.assert_close(out.double(), luma[:, None, None, None].expand(5, 1, 28, 28), rtol=0, atol=1e-6)

    # A textured image: its luma, shrunk by PIL's bilinear filter, independently of torch.
    x = torch.rand(2, 3, 32, 32, generator=g)
    grey = 0.299 * x[:, 0].numpy() + 0.587 * x[:, 1].numpy() + 0.114 * x[:, 2].numpy()
    for size in (28, 8):
        expected = np.stack(
            [np.asarray(Image.fromarray(im, "F").resize((size, size), Image.Resampling.BILINEAR)) for im in grey]
        )
        np.testing.assert_allclose(resize(x, [1, size, size])[:, 0].numpy(), expected, atol=1e-5)


def test_resize_grey_to_colour_repeats_the_plane():
    x = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    out = resize(x, [3, 32, 32])
    assert out.shape == (3, 3, 32, 32)
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 0], out[:, 2])
    torch.testing.assert_close(out[:, :1], resize(x, [1, 32, 32]))


def test_ood_split_is_binarised_by_the_datamodules_own_test_transform():
    reference = Digits(binarize="dynamic", seed=5)
    reference.setup("test")
    x = ood_test_split(Digits(binarize="none", seed=5), [1, 8, 8], binarize="dynamic", where="ood=digits")
    assert torch.equal(x, reference.splits["test"][0])  # the same fixed-seed draw as the model's own test split
    assert set(x.unique().tolist()) == {0.0, 1.0}
    grey = ood_test_split(Digits(seed=5), [1, 8, 8], binarize="none", where="ood=digits")
    assert len(set(grey.unique().tolist())) > 2


def test_a_resized_split_is_binarised_after_resizing():
    grey = resize(ood_test_split(Digits(seed=5), [1, 8, 8], binarize="none", where="ood=digits"), [1, 16, 16])
    x = ood_test_split(Digits(seed=5), [1, 16, 16], binarize="dynamic", resize_to_model=True, where="ood=digits")
    assert x.shape == grey.shape == (len(grey), 1, 16, 16)
    assert set(x.unique().tolist()) == {0.0, 1.0}
    # Bernoulli draws of the resized greys: the same mean up to sampling error (92k pixels, sd < 0.002).
    assert float(x.mean()) == pytest.approx(float(grey.mean()), abs=0.01)
