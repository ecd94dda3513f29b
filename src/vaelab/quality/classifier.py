"""The domain feature space of sample quality: a small CNN classifier, trained once per data set and cached.

Inception-v3 features (Heusel et al., 2017, "GANs Trained by a Two Time-Scale Update Rule
Converge to a Local Nash Equilibrium") need weights from the internet and see 28x28 grey
images as 299x299 colour photographs. Instead, as is common for MNIST-like data, vaelab
trains a small classifier on the labelled train split and takes its penultimate layer
(after the ReLU, `FEATURE_DIM` numbers) as the feature space of the Fréchet distance, KID
and precision/recall. Distances in it are comparable between models scored with the same
cached net only, never with Inception FID.

The net sees grey levels: when the data module binarises its evaluation splits, the
classifier is trained and tested on a twin of it that does not (`grey_splits`): what a VAE
samples (the likelihood's mean) is grey-level too.

Cache: `<cache_dir>/<data name>-<CxHxW>-<hash>.pt` (the state dict, loaded with
weights_only=True) and a `.json` beside it (test accuracy and the setup). The hash covers the
training setup and a fingerprint of the test split, so a different data set, split or
recipe gets its own net; the train split is read only when the net must be trained.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import logging
import math
import pickle
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from torchmetrics.functional.classification import multiclass_accuracy

from vaelab.data.base import InMemoryDataModule, Split
from vaelab.errors import ConfigError, MissingFile
from vaelab.runs.io import make_dir, write_bytes, write_json

log = logging.getLogger(__name__)

# Bump when the architecture or the training code changes: old cache files are then not reused.
ARCH = "cnn-bn-v1"
FEATURE_DIM = 128


@dataclass(frozen=True)
class TrainSetup:
    """How the classifier is trained: Adam, cross-entropy, a cosine decay of the learning rate to 0
    over `epochs` passes (at least `min_steps` steps, so that the ~1300 train images of 8x8 digits
    still get a few hundred). On Fashion-MNIST (55k train images) this recipe reached 91.2% test
    accuracy in 56 s of CPU time; without batch norm 89.8%, at lr 1e-3 88.2%, 2 epochs 90.5%."""

    epochs: int = 3
    min_steps: int = 300
    batch_size: int = 128
    lr: float = 3e-3
    width: int = 16
    seed: int = 0


class FeatureNet(nn.Module):
    """conv3x3(width) -> BN -> ReLU -> maxpool2 -> conv3x3(2 width) -> BN -> ReLU -> maxpool2 -> linear(FEATURE_DIM)
    -> ReLU [the features] -> linear(num_classes). Images (N, C, H, W), H and W >= 4. In eval mode
    (always, outside `train`) batch norm uses its running statistics: an example's features do
    not depend on the rest of its batch."""

    def __init__(self, shape: tuple[int, ...], num_classes: int, width: int = 16, feature_dim: int = FEATURE_DIM):
        super().__init__()
        c, h, w = check_image_shape(shape)
        self.body = nn.Sequential(
            nn.Conv2d(c, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (N, width, H/2, W/2)
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (N, 2 width, H/4, W/4)
            nn.Flatten(),
            nn.Linear(2 * width * (h // 4) * (w // 4), feature_dim),
            nn.ReLU(),  # (N, feature_dim): the feature space
        )
        self.head = nn.Linear(feature_dim, num_classes)
        #: Read by torchmetrics' FID/KID when this net is their `feature=`.
        self.num_features = feature_dim

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, feature_dim)."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> class logits (N, num_classes)."""
        return self.head(self.body(x))


def check_image_shape(shape) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or min(shape[1:]) < 4:
        raise ConfigError(
            f"quality.features=classifier: data shape {list(shape)} is not an image (C, H, W) of at least 4x4; "
            "the domain classifier needs images"
        )
    return shape


@torch.no_grad()
def embed(net: FeatureNet, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Features of x (N, C, H, W) in float64, (N, feature_dim), computed in batches in eval mode."""
    was_training = net.training
    net.eval()
    device = next(net.parameters()).device
    try:
        parts = [
            net.features(x[i : i + batch_size].to(device, torch.float32)).double().cpu()
            for i in range(0, len(x), batch_size)
        ]
    finally:
        net.train(was_training)
    return torch.cat(parts)


@torch.no_grad()
def accuracy(net: FeatureNet, split: Split, batch_size: int = 1000) -> float:
    """Top-1 accuracy of the net on a labelled split (x (N, C, H, W), y (N,))."""
    x, y = split
    net.eval()
    logits = torch.cat([net(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])  # (N, num_classes)
    return float(multiclass_accuracy(logits, y, num_classes=logits.shape[1], average="micro"))


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """torch on one intra-op thread inside the block. The fit's batches (128 small images) are too
    small to share between threads: on a busy 2-core machine a step took 0.27 s on one thread and
    1.3 s on two (28x28), and 0.02 s against 0.6 s on 8x8 digits."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def train(shape: tuple[int, ...], split: Split, setup: TrainSetup) -> FeatureNet:
    """A FeatureNet fitted to the labelled (x, y) split, reproducibly from setup.seed.

    A plain loop rather than a Lightning Trainer: no checkpoints, logging or devices to manage
    for a two-minute CPU fit whose only product is a state dict."""
    x, y = split
    num_classes = int(y.max()) + 1
    steps_per_epoch = math.ceil(len(x) / setup.batch_size)
    steps = max(setup.epochs * steps_per_epoch, setup.min_steps)
    # Weight init draws from the global generator: fork it so that this fit neither depends on
    # nor disturbs the caller's random state.
    with torch.random.fork_rng(devices=[]), one_thread():
        torch.manual_seed(setup.seed)
        net = FeatureNet(shape, num_classes, setup.width)
        order = torch.Generator().manual_seed(setup.seed)
        opt = torch.optim.Adam(net.parameters(), lr=setup.lr)
        # The rate decays to 0 along a cosine over all the steps.
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
        net.train()
        step = 0
        while step < steps:
            perm = torch.randperm(len(x), generator=order)
            for i in range(0, len(x), setup.batch_size):
                idx = perm[i : i + setup.batch_size]
                loss = F.cross_entropy(net(x[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                schedule.step()
                step += 1
                if step == steps:
                    break
    return net.eval()


def grey_splits(datamodule: InMemoryDataModule, stage: str) -> dict[str, Split]:
    """The data module's splits for `stage` at grey levels: the same examples (same seed, same
    split sizes) without the binarisation of a Bernoulli benchmark. A binarising module is left
    as it is; a twin of it without binarisation is set up instead."""
    if datamodule.binarize == "none":
        datamodule.setup(stage)
        return datamodule.splits
    twin = copy.copy(datamodule)
    twin.binarize, twin.splits = "none", {}
    twin.setup(stage)
    return twin.splits


def fingerprint(split: Split) -> str:
    """sha256 of a split's images and labels (their bytes, shape and dtype)."""
    h = hashlib.sha256()
    for t in split:
        t = t.detach().cpu().contiguous()
        h.update(f"{tuple(t.shape)}{t.dtype}".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def cache_paths(datamodule: InMemoryDataModule, test: Split, cache_dir: str | Path, setup: TrainSetup):
    """(weights .pt, info .json, the setup dict hashed into their name)."""
    shape = tuple(int(s) for s in test[0].shape[1:])
    key = {"arch": ARCH, "feature_dim": FEATURE_DIM, **asdict(setup), "data": datamodule.name}
    key |= {"shape": list(shape), "test_sha256": fingerprint(test)}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    stem = f"{datamodule.name}-{'x'.join(map(str, shape))}-{digest}"
    return Path(cache_dir) / f"{stem}.pt", Path(cache_dir) / f"{stem}.json", key


def load(weights: Path, shape: tuple[int, ...]) -> FeatureNet:
    """A cached FeatureNet; its sizes come from the tensors. No pickle: weights_only=True."""
    state = torch.load(weights, map_location="cpu", weights_only=True)
    num_classes, feature_dim = state["head.weight"].shape
    net = FeatureNet(shape, int(num_classes), int(state["body.0.weight"].shape[0]), int(feature_dim))
    net.load_state_dict(state)
    return net.eval()


def feature_net(
    datamodule: InMemoryDataModule, cache_dir: str | Path, setup: TrainSetup = TrainSetup()
) -> tuple[FeatureNet, float]:
    """(net, test accuracy) for the data module's data set: from the cache, else trained on the
    grey train split, tested on the grey test split and cached."""
    test = grey_splits(datamodule, "test")["test"]
    shape = check_image_shape(test[0].shape[1:])
    weights, info, key = cache_paths(datamodule, test, cache_dir, setup)
    if weights.is_file() and info.is_file():
        try:
            return load(weights, shape), float(json.loads(info.read_text())["test_accuracy"])
        except (OSError, EOFError, ValueError, KeyError, RuntimeError, TypeError, pickle.UnpicklingError) as err:
            # A truncated or foreign file (weights_only refuses pickled code): train afresh over it.
            log.warning("feature net cache %s unusable (%s); training it again", weights, err)
    datamodule.prepare_data()  # a file source may need its train files fetched
    try:
        train_split = grey_splits(datamodule, "fit")["train"]
    except FileNotFoundError as err:
        raise MissingFile(
            f"quality.features=classifier: no feature net for data={datamodule.name} in {cache_dir} yet, and "
            f"training it needs the train split: {err}"
        ) from None
    if int(train_split[1].min()) < 0:
        raise ConfigError(
            f"quality.features=classifier: data={datamodule.name} has no labels to train the domain classifier on; "
            "use quality.features=inception"
        )
    start, cpu = time.perf_counter(), time.process_time()
    net = train(shape, train_split, setup)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    acc = accuracy(net, test)
    make_dir(cache_dir, "quality.cache_dir")
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    write_bytes(weights, buffer.getvalue())
    write_json(
        info,
        {
            "test_accuracy": acc,
            "train_seconds": round(seconds, 2),
            "train_cpu_seconds": round(cpu, 2),
            "num_train": len(train_split[0]),
            "num_test": len(test[0]),
            "setup": key,
            "weights": weights.name,
        },
    )
    log.info("trained the %s feature net in %.1f s: test accuracy %.4f (%s)", datamodule.name, seconds, acc, weights)
    return net, acc
