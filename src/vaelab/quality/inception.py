"""Standard Inception-v3 FID (Heusel et al., 2017, eq. 6) through torchmetrics, with the weights from a local file.

    FID = ||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^{1/2})   over the 2048 pool features

torchmetrics' FrechetInceptionDistance runs torch-fidelity's port of the TensorFlow FID network
(vaelab's `fid` extra: `pip install 'vaelab[fid]'`), whose weights file (~91 MB) is
downloaded from `URL` into torch's hub cache. Here, without internet, the weights come from
`weights_path`, else from that cache, else from one download attempt that gives up after
`timeout` seconds: every failure is one line naming quality.inception_weights and the URL.
The file is read with weights_only=True (torch-fidelity itself asks torch.load for
weights_only=False; TORCH_FORCE_WEIGHTS_ONLY_LOAD overrides that while the network is built).

Images: (N, 1 or 3, H, W) in [0, 1]; grey is repeated to RGB, values are clamped and rounded
to 8 bits, and the resize to 299x299 is TensorFlow-1.x's bilinear (antialias=False), so the
numbers follow the original FID's protocol and compare with published ones (same N only: FID
is biased in N).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import torch

from vaelab.errors import ConfigError, MissingFile
from vaelab.runs.io import make_dir, write_bytes

# The file torchmetrics/torch-fidelity download (torch_fidelity.feature_extractor_inceptionv3.URL_INCEPTION_V3).
URL = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
SHA256_PREFIX = "6726825d"  # torch.hub's convention: the hash prefix is in the file name
TIMEOUT = 10.0  # seconds without an answer before a download attempt gives up
SETTING = "quality.inception_weights"


def hub_file(url: str = URL) -> Path:
    """Where torch.hub.load_state_dict_from_url (and so torchmetrics) keeps the downloaded file."""
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[1]


def _how(url: str) -> str:
    return (
        f"download {url} (sha256 starting {SHA256_PREFIX}) where there is internet and pass "
        f"{SETTING}=<path to it>, or put it at {hub_file(url)}"
    )


def download(url: str, dest: Path, timeout: float, sha256_prefix: str = SHA256_PREFIX) -> Path:
    """Fetch `url` into `dest` (atomically), checking the sha256 prefix; one-line error on any failure."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            data = response.read()
    except (OSError, ValueError) as err:  # URLError, timeouts, refused, no DNS: all OSError
        reason = getattr(err, "reason", err)
        raise MissingFile(
            f"{SETTING}: no Inception-v3 weights here and the download failed ({reason}): {_how(url)}"
        ) from None
    digest = hashlib.sha256(data).hexdigest()
    if not digest.startswith(sha256_prefix):
        raise MissingFile(f"{SETTING}: the download of {url} has sha256 {digest[:8]}..., not {sha256_prefix}...")
    make_dir(dest.parent, "TORCH_HOME")
    write_bytes(dest, data)
    return dest


def resolve_weights(
    weights_path: str | os.PathLike | None = None, allow_download: bool = True, timeout: float = TIMEOUT, url: str = URL
) -> Path:
    """The weights file: `weights_path` (must exist), else torch's hub cache, else a download."""
    if weights_path not in (None, ""):
        path = Path(weights_path).expanduser()
        if not path.is_file():
            raise MissingFile(f"{SETTING}={weights_path}: no such file; {_how(url)}")
        return path
    cached = hub_file(url)
    if cached.is_file():
        return cached
    if not allow_download:
        raise MissingFile(f"{SETTING} is not set, {cached} does not exist and downloads are off: {_how(url)}")
    return download(url, cached, timeout)


@contextlib.contextmanager
def weights_only_loads() -> Iterator[None]:
    """Every torch.load in the block is weights_only=True, whatever its caller asked for."""
    old = os.environ.get("TORCH_FORCE_WEIGHTS_ONLY_LOAD")
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
    try:
        yield
    finally:
        if old is None:
            del os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"]
        else:
            os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = old


def check_images(x: torch.Tensor) -> None:
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ConfigError(f"quality.features=inception needs images (N, 1 or 3, H, W), got {list(x.shape)}")


def to_rgb_uint8(x: torch.Tensor) -> torch.Tensor:
    """(N, 1 or 3, H, W) floats in [0, 1] -> (N, 3, H, W) uint8, as the FID network takes them."""
    check_images(x)
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).expand(-1, 3, -1, -1)


def inception_fid(
    samples: torch.Tensor,
    reference: torch.Tensor,
    weights_path: str | os.PathLike | None = None,
    allow_download: bool = True,
    batch_size: int = 50,
) -> float:
    """Inception-v3 FID between `samples` and `reference`, images (N, C, H, W) in [0, 1]."""
    check_images(samples)
    check_images(reference)
    # Both missing pieces in one line: the package and the weights.
    package = None
    if importlib.util.find_spec("torch_fidelity") is None:
        package = (
            "quality.features=inception needs the torch-fidelity package (the FID network): pip install 'vaelab[fid]'"
        )
    try:
        weights = resolve_weights(weights_path, allow_download)
    except FileNotFoundError as err:
        raise MissingFile(f"{err}; and {package}" if package else str(err)) from None
    if package:
        raise ConfigError(package)
    from torchmetrics.image.fid import FrechetInceptionDistance

    with weights_only_loads():
        fid = FrechetInceptionDistance(
            feature=2048, normalize=False, antialias=False, feature_extractor_weights_path=str(weights)
        )
    with torch.no_grad():
        for real, images in ((True, reference), (False, samples)):
            for i in range(0, len(images), batch_size):
                fid.update(to_rgb_uint8(images[i : i + batch_size]), real=real)
    return max(float(fid.compute()), 0.0)  # round-off can make a set against itself -1e-20
