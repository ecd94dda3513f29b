"""Inception FID's weights: a local file, torch's hub cache or a download, else one line, fast; weights_only loads."""

from __future__ import annotations

import hashlib
import http.server
import importlib.util
import os
import pickle
import threading
import time

import pytest
import torch

from vaelab.quality import inception
from vaelab.quality.inception import URL, download, hub_file, inception_fid, resolve_weights, to_rgb_uint8


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """torch's hub cache in an empty temporary directory (torch.hub.get_dir reads TORCH_HOME each call)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    return tmp_path / "torch_home"


@pytest.fixture
def server(tmp_path):
    """A local HTTP server over tmp_path/www on a free loopback port: its base URL."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()
    httpd.server_close()


def test_missing_weights_path_one_line(tmp_path):
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError) as err:
        resolve_weights(tmp_path / "weights.pth")
    message = str(err.value)
    assert message.startswith(f"quality.inception_weights={tmp_path / 'weights.pth'}: no such file")
    assert URL in message and "\n" not in message
    assert time.perf_counter() - start < 1


def test_no_weights_and_no_download_fast(empty_hub):
    start = time.perf_counter()
    # Nothing listens on the discard port of the loopback address: refused at once, as offline.
    with pytest.raises(FileNotFoundError, match="download failed") as err:
        resolve_weights(url="http://127.0.0.1:9/weights-inception-2015-12-05-6726825d.pth", timeout=2)
    assert str(empty_hub) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(FileNotFoundError, match="downloads are off"):
        resolve_weights(allow_download=False)
    assert time.perf_counter() - start < 3


def test_hub_cache_then_download_checked(empty_hub, server):
    base, root = server
    (root / "w.pth").write_bytes(b"not the weights")
    with pytest.raises(FileNotFoundError, match="has sha256 .* not 6726825d"):
        resolve_weights(url=f"{base}/w.pth")
    assert not hub_file(f"{base}/w.pth").exists()
    digest = hashlib.sha256(b"not the weights").hexdigest()
    got = download(f"{base}/w.pth", hub_file(f"{base}/w.pth"), timeout=2, sha256_prefix=digest[:8])
    assert got.read_bytes() == b"not the weights" and got.parent == empty_hub / "hub" / "checkpoints"
    (root / "w.pth").unlink()  # now only the cache has it
    assert resolve_weights(url=f"{base}/w.pth") == got


def test_weights_only_even_when_the_caller_asks_otherwise(tmp_path):
    marker = tmp_path / "executed"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps(Payload(), protocol=2))
    before = os.environ.get("TORCH_FORCE_WEIGHTS_ONLY_LOAD")
    with inception.weights_only_loads(), pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=False)  # what torch-fidelity calls
    assert not marker.exists()
    assert os.environ.get("TORCH_FORCE_WEIGHTS_ONLY_LOAD") == before


def test_images_to_rgb_bytes():
    x = torch.tensor([-0.5, 0.2, 0.5, 1.7]).view(1, 1, 2, 2)
    rgb = to_rgb_uint8(x)
    assert rgb.shape == (1, 3, 2, 2) and rgb.dtype == torch.uint8
    assert rgb[0, 2].flatten().tolist() == [0, 51, 128, 255]  # clamped, x 255, rounded
    with pytest.raises(ValueError, match=r"images \(N, 1 or 3, H, W\), got \[4, 5\]"):
        to_rgb_uint8(torch.zeros(4, 5))


@pytest.mark.skipif(importlib.util.find_spec("torch_fidelity") is not None, reason="torch-fidelity is installed")
def test_without_torch_fidelity_one_line(tmp_path):
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"")
    with pytest.raises(ValueError, match=r"needs the torch-fidelity package .*: pip install 'vaelab\[fid\]'$"):
        inception_fid(torch.rand(4, 1, 8, 8), torch.rand(4, 1, 8, 8), weights)
    with pytest.raises(
        FileNotFoundError, match="no such file; .* and quality.features=inception needs the torch-fidelity"
    ):
        inception_fid(torch.rand(4, 1, 8, 8), torch.rand(4, 1, 8, 8), tmp_path / "absent.pth")
