"""The pictures a VAE researcher looks at, as image tensors (C, H, W) in [0, 1].

Each function takes a trained model (`vaelab.model.VAE`) and data, and returns one grid;
`save` writes them as PNG and `log_images` sends them to the loggers that take images.
Used by the training callback (vaelab.callbacks.ImageGrids) and by `vaelab-eval`.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from torchvision.utils import make_grid, save_image

from vaelab.errors import ConfigError

PAD = 1


def _grid(images: torch.Tensor, nrow: int) -> torch.Tensor:
    """(N, C, H, W) -> one grid; clamped since Gaussian/Laplace means may leave [0, 1]."""
    return make_grid(images.detach().float().clamp(0, 1).cpu(), nrow=nrow, padding=PAD, pad_value=0.5)


def reconstructions(model, x: torch.Tensor) -> torch.Tensor:
    """First row: the inputs; second row: their reconstructions."""
    return _grid(torch.cat([x, model.reconstruct(x).to(x)]), nrow=len(x))


def samples(model, z: torch.Tensor) -> torch.Tensor:
    """Decoded prior draws z (N, L), in a square-ish grid."""
    return sample_grid(model.decode(z.to(model.device)).mean)


def sample_grid(images: torch.Tensor) -> torch.Tensor:
    """Images (N, C, H, W) in a square-ish grid."""
    return _grid(images, nrow=max(1, int(len(images) ** 0.5)))


def interpolations(model, x_a: torch.Tensor, x_b: torch.Tensor, steps: int = 10, mode: str = "linear") -> torch.Tensor:
    """One row per pair: x_a, the decoded path from its encoding to x_b's, x_b."""
    return interpolation_grid(x_a, model.interpolate(x_a, x_b, steps=steps, mode=mode), x_b)


def interpolation_grid(x_a: torch.Tensor, path: torch.Tensor, x_b: torch.Tensor) -> torch.Tensor:
    """Rows of x_a, its path (P, steps, C, H, W), x_b."""
    rows = torch.cat([x_a[:, None], path.to(x_a), x_b[:, None]], dim=1)
    return _grid(rows.flatten(0, 1), nrow=path.shape[1] + 2)


def traversals(
    model, x: torch.Tensor, kl_per_dim, steps: int = 11, span: float = 3.0, max_dims: int = 16
) -> torch.Tensor:
    """Rows: latent dimensions in order of decreasing KL (the most used first); columns: that
    dimension set from -span to +span around the encoding of x (1, *data_shape)."""
    order = torch.argsort(torch.as_tensor(kl_per_dim), descending=True)[:max_dims].tolist()
    values = torch.linspace(-span, span, steps)
    out = model.traverse(x, order, values)  # (dims, steps, C, H, W)
    return _grid(out.flatten(0, 1), nrow=steps)


@torch.no_grad()
def latent_traversals(model, x: torch.Tensor, steps: int = 11, span: float = 2.5) -> torch.Tensor:
    """Every latent dimension around the codes of a few inputs x (N, *data_shape), the picture
    beside disentanglement scores: row j * N + i varies latent j around input i's posterior mean
    (the N rows of one latent together), its columns setting it from -span to +span."""
    values = torch.linspace(-span, span, steps)
    dims = list(range(model.latent_dim))
    rows = torch.stack([model.traverse(x[i : i + 1], dims, values) for i in range(len(x))], dim=1)
    return _grid(rows.flatten(0, 2), nrow=steps)  # rows: (latents, inputs, steps, C, H, W)


def latent_plane(model, n: int = 15, span: float = 3.0) -> torch.Tensor:
    """For a 2-D latent space: decoded means over an n x n grid of z in [-span, span]^2
    (z_1 grows to the right, z_2 upwards)."""
    if model.latent_dim != 2:
        raise ConfigError(f"the latent plane needs model.latent_dim=2, got {model.latent_dim}")
    v = torch.linspace(-span, span, n)
    z = torch.stack(torch.meshgrid(v, v.flip(0), indexing="xy"), dim=-1).reshape(-1, 2)
    return _grid(model.decode(z.to(model.device)).mean, nrow=n)


def project_2d(mu: torch.Tensor) -> tuple[torch.Tensor, str]:
    """(N, L) encodings -> (N, 2): the first two dimensions when L = 2, else the top two
    principal components."""
    if mu.shape[1] <= 2:
        return torch.nn.functional.pad(mu, (0, 2 - mu.shape[1])), "z"
    centred = (mu - mu.mean(0)).double()
    _, _, v = torch.linalg.svd(centred, full_matrices=False)  # v: (min(N, L), L)
    xy = centred @ v[:2].T
    return torch.nn.functional.pad(xy, (0, 2 - xy.shape[1])).float(), "PC"  # fewer than 2 components if N < 2


def latent_map(mu: torch.Tensor, labels: torch.Tensor | None = None, max_points: int = 10000) -> torch.Tensor:
    """Scatter of posterior means coloured by label, rendered with matplotlib to (3, H, W)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mu = mu[:max_points].detach().cpu()
    xy, axis = project_2d(mu)
    fig, ax = plt.subplots(figsize=(6, 5.5), dpi=100)
    has_labels = labels is not None and bool((labels[:max_points] >= 0).any())
    colours = labels[:max_points].cpu().numpy() if has_labels else None
    style = {"c": colours, "cmap": "tab10"} if has_labels else {}
    points = ax.scatter(xy[:, 0], xy[:, 1], s=3, alpha=0.7, linewidths=0, **style)
    if has_labels:
        fig.colorbar(points, ax=ax, label="label")
    ax.set_xlabel(f"{axis} 1")
    ax.set_ylabel(f"{axis} 2")
    ax.set_title(f"posterior means of {len(mu)} examples" + (" (PCA)" if axis == "PC" else ""))
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    from PIL import Image

    rgb = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    return torch.from_numpy(rgb.copy()).permute(2, 0, 1).float() / 255.0


@torch.no_grad()
def evaluation_pictures(
    model, x: torch.Tensor, mu: torch.Tensor, labels: torch.Tensor, kl_per_dim, z: torch.Tensor, pairs: int = 8
) -> dict[str, torch.Tensor]:
    """Every picture of a trained model: x a batch of held-out inputs (at least 2 * pairs),
    mu/labels the encodings of the held-out set, z prior draws."""
    pairs = min(pairs, len(x) // 2)
    x_a, x_b = x[:pairs], x[pairs : 2 * pairs]
    pictures = {
        "reconstructions": reconstructions(model, x[: 2 * pairs]),
        "samples": samples(model, z),
        "interpolations_linear": interpolations(model, x_a, x_b, mode="linear"),
        "interpolations_spherical": interpolations(model, x_a, x_b, mode="spherical"),
        "traversals": traversals(model, x[:1], kl_per_dim),
        "latent_map": latent_map(mu, labels),
    }
    if model.latent_dim == 2:
        pictures["latent_plane"] = latent_plane(model)
    return pictures


def save(pictures: dict[str, torch.Tensor], dirpath: str | Path, suffix: str = "") -> list[Path]:
    dirpath = Path(dirpath)
    dirpath.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, image in pictures.items():
        paths.append(dirpath / f"{name}{suffix}.png")
        save_image(image, paths[-1])
    return paths


def log_images(loggers, pictures: dict[str, torch.Tensor], prefix: str, step: int) -> None:
    """Send pictures to W&B (as images), TensorBoard and MLflow; other loggers take none."""
    from lightning.pytorch.loggers import MLFlowLogger, TensorBoardLogger, WandbLogger

    from vaelab.logger.mlflow import log_image

    for logger in loggers:
        for name, image in pictures.items():
            if isinstance(logger, WandbLogger):
                logger.log_image(key=f"{prefix}/{name}", images=[image], step=step)
            elif isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image(f"{prefix}/{name}", image, step)
            elif isinstance(logger, MLFlowLogger):
                log_image(logger, f"{prefix}/{name}", image, step)
