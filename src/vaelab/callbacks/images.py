"""Image grids at the end of each validation: reconstructions and samples from the prior.

Saved as PNG in the run directory and sent to the loggers that take images (W&B,
TensorBoard). The inputs (the first validation batch) and the prior draws are fixed
for the whole run, so the grids of successive epochs compare directly, and drawing
them does not touch the global random state that training uses.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger
from lightning.pytorch.utilities import rank_zero_only
from torchvision.utils import make_grid, save_image


class ImageGrids(L.Callback):
    def __init__(self, dirpath: str, num_images: int = 16, num_samples: int = 64, seed: int = 0):
        self.dirpath = Path(dirpath)
        self.num_images, self.num_samples, self.seed = num_images, num_samples, seed
        self.inputs: torch.Tensor | None = None
        self.z: torch.Tensor | None = None

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        if self.inputs is None and batch_idx == 0:
            self.inputs = batch[0][: self.num_images].detach().clone()

    @rank_zero_only
    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or self.inputs is None or not getattr(pl_module, "is_image", False):
            return
        grids = self.grids(pl_module)
        self.dirpath.mkdir(parents=True, exist_ok=True)
        for name, grid in grids.items():
            save_image(grid, self.dirpath / f"{name}_epoch{trainer.current_epoch:03d}.png")
        for logger in trainer.loggers:
            for name, grid in grids.items():
                if isinstance(logger, WandbLogger):
                    logger.log_image(key=f"val/{name}", images=[grid], step=trainer.global_step)
                elif isinstance(logger, TensorBoardLogger):
                    logger.experiment.add_image(f"val/{name}", grid, trainer.global_step)

    def grids(self, pl_module) -> dict[str, torch.Tensor]:
        """{"reconstructions": inputs above their reconstructions, "samples": decoded prior draws}."""
        if self.z is None:
            g = torch.Generator().manual_seed(self.seed)
            self.z = torch.randn(self.num_samples, pl_module.latent_dim, generator=g)
        x = self.inputs.to(pl_module.device)
        was_training = pl_module.training
        pl_module.eval()
        with torch.no_grad():
            recon = pl_module.reconstruct(x)
            samples = pl_module.decode(self.z.to(pl_module.device)).mean
        pl_module.train(was_training)
        nrow = len(x)
        return {
            "reconstructions": make_grid(torch.cat([x, recon]).clamp(0, 1).cpu(), nrow=nrow, padding=1),
            "samples": make_grid(samples.clamp(0, 1).cpu(), nrow=int(len(samples) ** 0.5), padding=1),
        }
