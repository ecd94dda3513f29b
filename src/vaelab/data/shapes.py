"""Whether a trained model can read data of a given shape.

A model reads inputs of the shape it was trained on (`model.data_shape`); evaluating it on a
data set of another shape (vaelab-eval data=cifar10 on a 28x28 model) is refused here, in one
line naming both shapes, before any file is read. This is the one place to extend when data of
another shape become usable (e.g. resized on request for out-of-distribution scores).
"""

from __future__ import annotations

from collections.abc import Sequence

from vaelab.errors import DataError


def check_compatible(model_shape: Sequence[int], data_shape: Sequence[int], where: str) -> None:
    """Raise ValueError unless data of `data_shape` fit a model trained on `model_shape`.
    `where` names the setting that chose the data (e.g. "data=mnist")."""
    model_shape, data_shape = [int(s) for s in model_shape], [int(s) for s in data_shape]
    if model_shape != data_shape:
        raise DataError(
            f"{where}: the data have shape {data_shape} but the model was trained on data of shape {model_shape}; "
            "it can only read data of its own shape"
        )


# ----------------------------------------------------------------- converting images on request
# For out-of-distribution scores (vaelab.ood, `ood_resize=true`) images of another shape are
# converted to the model's: channels 3 -> 1 by the ITU-R BT.601 luma Y = 0.299 R + 0.587 G
# + 0.114 B (the weights of PIL's convert("L") and torchvision's rgb_to_grayscale); 1 -> 3 by
# repeating the grey plane; H x W by bilinear interpolation with an antialiasing filter when
# shrinking (torch's antialias=True, which matches PIL's bilinear resize). Vectors are never
# resized: there is no meaningful resize of a vector.

LUMA_601 = (0.299, 0.587, 0.114)


def resizable(model_shape: Sequence[int], data_shape: Sequence[int]) -> bool:
    """Whether `resize` turns data of data_shape into model_shape: both images with 1 or 3 channels."""
    m, d = [int(s) for s in model_shape], [int(s) for s in data_shape]
    return len(m) == 3 and len(d) == 3 and m[0] in (1, 3) and d[0] in (1, 3)


def check_resizable(model_shape: Sequence[int], data_shape: Sequence[int], where: str) -> None:
    """Raise ValueError unless data of `data_shape` fit the model as they are or after `resize`."""
    if [int(s) for s in model_shape] != [int(s) for s in data_shape] and not resizable(model_shape, data_shape):
        raise DataError(
            f"{where}: the data have shape {[int(s) for s in data_shape]}, which cannot be converted to the model's "
            f"{[int(s) for s in model_shape]}: only images with 1 or 3 channels can be resized"
        )


def resize(x, shape: Sequence[int]):
    """Images x (N, C, H, W), C in {1, 3} -> float (N, *shape): channels first, then H x W."""
    import torch
    from torch.nn import functional as F

    c, h, w = (int(s) for s in shape)
    check_resizable([c, h, w], x.shape[1:], "resize")
    x = x.float()
    if x.shape[1] == 3 and c == 1:
        weights = torch.tensor(LUMA_601, dtype=x.dtype, device=x.device)
        x = torch.einsum("nchw,c->nhw", x, weights).unsqueeze(1)  # (N, 1, H, W)
    elif x.shape[1] == 1 and c == 3:
        x = x.expand(-1, 3, -1, -1)  # (N, 3, H, W): views of the one grey plane
    if tuple(x.shape[2:]) != (h, w):
        x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
    return x.contiguous()
