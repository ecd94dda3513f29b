"""Pictures during training: reconstructions and prior samples after each validation, and the
full set (interpolations, traversals, latent map, ...) after testing; with traversal_inputs=N,
also latent_traversals_test.png: every latent from -traversal_span to +traversal_span around the
codes of the first N test inputs (pictures.latent_traversals; experiment=disentanglement_study).

Saved as PNG in the run directory and sent to the loggers that take images (W&B,
TensorBoard). The inputs (the first validation/test batch) and the prior draws are fixed
for the whole run, so the grids of successive epochs compare directly, and drawing them
does not touch the global random state that training uses.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only

from vaelab.callbacks import pictures
from vaelab.config.types import NonNegInt, PosFloat, PosInt
from vaelab.errors import ConfigError


class ImageGrids(L.Callback):
    def __init__(
        self,
        dirpath: str,
        num_images: int = 16,
        num_samples: int = 64,
        seed: int = 0,
        max_encodings: int = 10000,
        traversal_inputs: NonNegInt = 0,
        traversal_steps: PosInt = 11,
        traversal_span: PosFloat = 2.5,
    ):
        if traversal_inputs > num_images:
            raise ConfigError(
                f"callbacks.images.traversal_inputs={traversal_inputs}: at most num_images={num_images} "
                "(the test inputs kept) is allowed"
            )
        self.dirpath = Path(dirpath)
        self.num_images, self.num_samples, self.seed = num_images, num_samples, seed
        self.max_encodings = max_encodings
        self.traversal = {"inputs": traversal_inputs, "steps": traversal_steps, "span": traversal_span}
        self.inputs: dict[str, torch.Tensor] = {}
        self.encodings: list[tuple[torch.Tensor, torch.Tensor]] = []

    def prior_draws(self, model) -> torch.Tensor:
        """The same num_samples draws from the model's prior every time (for a learned prior, the
        same noise through its current parameters), without touching the training's random state."""
        with torch.random.fork_rng(devices=[model.device] if model.device.type == "cuda" else []):
            torch.manual_seed(self.seed)
            return model.sample_latents(self.num_samples).cpu()

    def _keep_inputs(self, split: str, batch, batch_idx: int) -> None:
        if split not in self.inputs and batch_idx == 0:
            self.inputs[split] = batch[0][: self.num_images].detach().clone()

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self._keep_inputs("val", batch, batch_idx)

    @rank_zero_only
    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        model = pl_module.vae
        if trainer.sanity_checking or "val" not in self.inputs or not model.is_image:
            return
        # Lightning's evaluation hooks run with the module in eval mode and without gradients.
        grids = {
            "reconstructions": pictures.reconstructions(model, self.inputs["val"].to(model.device)),
            "samples": pictures.samples(model, self.prior_draws(model)),
        }
        pictures.save(grids, self.dirpath, suffix=f"_epoch{trainer.current_epoch:03d}")
        pictures.log_images(trainer.loggers, grids, "val", trainer.global_step)

    def on_test_epoch_start(self, trainer, pl_module):
        self.encodings = []
        self.inputs.pop("test", None)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self._keep_inputs("test", batch, batch_idx)
        if sum(len(m) for m, _ in self.encodings) < self.max_encodings:
            self.encodings.append((pl_module.vae.encode(batch[0]).mean.cpu(), batch[1].cpu()))

    @rank_zero_only
    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        model = pl_module.vae
        if "test" not in self.inputs or not model.is_image:
            return
        mu = torch.cat([m for m, _ in self.encodings])
        labels = torch.cat([y for _, y in self.encodings])
        kl_per_dim = pl_module.latent_report["test"]["kl_per_dim"]
        x = self.inputs["test"].to(model.device)
        grids = pictures.evaluation_pictures(model, x, mu, labels, kl_per_dim, self.prior_draws(model))
        if n := self.traversal["inputs"]:
            steps, span = self.traversal["steps"], self.traversal["span"]
            grids["latent_traversals"] = pictures.latent_traversals(model, x[:n], steps=steps, span=span)
        pictures.save(grids, self.dirpath, suffix="_test")
        pictures.log_images(trainer.loggers, grids, "test", trainer.global_step)
