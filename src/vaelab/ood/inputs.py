"""The examples an OOD evaluation scores, in the model's data space.

A model sees what its datamodule's loader gives: for `binarize=dynamic|static` the val and
test splits are binarised once, with fixed seeds (vaelab.data.base: EVAL_BINARIZE_SEED for
val, EVAL_BINARIZE_SEED + 1 for test), so every run is scored on the same binary images. An
OOD set must be scored the same way: a model trained on dynamically binarised Fashion-MNIST
scores *binarised* MNIST, binarised by the MNIST datamodule's own test-split transform with
the in-distribution config's `binarize` setting (not the OOD config's own). Scoring grey
MNIST under a Bernoulli model trained on binary images would compare a cross-entropy with a
log-likelihood.

When a set has another shape and the user asked for it (`ood_resize=true`), it is resized
*before* binarising (vaelab.data.shapes.resize; binarising first would turn the resize's
interpolated greys back into a grey image of a binary one).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from vaelab.data.shapes import check_compatible, check_resizable, resizable, resize
from vaelab.errors import ConfigError


def check_fits(model_shape: Sequence[int], data_shape: Sequence[int], where: str, resize_to_model: bool) -> None:
    """One line (ValueError) unless the data fit the model as they are, or after a resize asked for."""
    model_shape, data_shape = [int(s) for s in model_shape], [int(s) for s in data_shape]
    if resize_to_model:
        check_resizable(model_shape, data_shape, where)
    elif model_shape != data_shape and resizable(model_shape, data_shape):
        raise ConfigError(
            f"{where}: the data have shape {data_shape} but the model reads {model_shape}; set ood_resize=true "
            f"to convert them (grey by ITU-R 601 luma, bilinear resize to {model_shape[1]}x{model_shape[2]})"
        )
    else:
        check_compatible(model_shape, data_shape, where)


def in_distribution(datamodule) -> tuple[torch.Tensor, torch.Tensor]:
    """(test, val) inputs of the model's own data, as its loaders give them (binarised if it is)."""
    datamodule.setup("fit")  # the val split is carved from the training files
    return datamodule.splits["test"][0], datamodule.splits["val"][0]


def ood_test_split(
    datamodule, model_shape: Sequence[int], *, binarize: str, resize_to_model: bool = False, where: str
) -> torch.Tensor:
    """The test split of a fresh (not yet set up) OOD datamodule, in the model's data space:
    binarised like the model's own data (`binarize`), and resized to model_shape if asked.
    A shape that does not fit is refused in one line, before any file is read when the
    datamodule's config states its shape."""
    if datamodule.shape is not None:
        check_fits(model_shape, datamodule.shape, where, resize_to_model)
    if not resize_to_model:
        datamodule.binarize = binarize
        datamodule.setup("test")  # the datamodule's own test-split transform, binarisation included
        x = datamodule.splits["test"][0]
        check_fits(model_shape, x.shape[1:], where, False)
        return x
    datamodule.binarize = "none"
    datamodule.setup("test")
    x, y = datamodule.splits["test"]
    check_fits(model_shape, x.shape[1:], where, True)
    if tuple(x.shape[1:]) != tuple(model_shape):
        x = resize(x, model_shape)
    datamodule.splits, datamodule.shape = {"test": (x, y)}, tuple(x.shape[1:])
    datamodule.binarize = binarize
    if binarize != "none":
        # The same fixed-seed draw (and [0, 1] check) as the datamodule's setup applies to a test split.
        datamodule.binarize_fixed()
    return datamodule.splits["test"][0]
