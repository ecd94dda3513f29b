"""The training system: runs an objective on the vae, and owns logging, metrics and optimisers.

    vae        vaelab.model.VAE: encoder, prior, decoder + likelihood (a plain nn.Module)
    objective  vaelab.objectives: turns a batch and the model into a loss and terms to log
    schedule   vaelab.kl_schedules: the KL weight's factor at each training step

Whatever the objective, `val/` and `test/` report the same quantities on the same scale: the
ELBO (beta = 1, the model's prior) and its parts, the importance-weighted NLL, bits per
dimension and active units; `{split}/loss` is the objective's own loss and its terms (tc, mi,
disc_acc, beta_now, ...) are logged beside them.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import lightning as L
import torch
from torch import nn
from torchmetrics import MeanMetric

from vaelab.config.types import Bool, NonNegFloat, NonNegInt, PosInt, Shape, Share
from vaelab.errors import ConfigError, NotFinite
from vaelab.kl_schedules import Constant
from vaelab.likelihood import Likelihood
from vaelab.metrics import ELBO, NLL, LatentUsage
from vaelab.model import VAE
from vaelab.model.checks import check_parts
from vaelab.objectives import ELBO as ELBOObjective
from vaelab.objectives import Objective, Step
from vaelab.priors import StandardNormal
from vaelab.runs.callback_state import confine_records
from vaelab.runs.formats import FORMAT, migrate

log = logging.getLogger(__name__)

__all__ = ["VAESystem"]

SPLITS = ("val", "test")


class VAESystem(L.LightningModule):
    def __init__(
        self,
        encoder: nn.Module | None = None,
        decoder: nn.Module | None = None,
        likelihood: Likelihood | None = None,
        data_shape: Shape | None = None,
        latent_dim: PosInt | None = None,
        prior: nn.Module | None = None,
        objective: Objective | None = None,
        kl_schedule: Callable[[int], float] | None = None,
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        scheduler: Mapping[str, Any] | Callable[..., Any] | None = None,
        num_iw_samples: PosInt = 100,
        val_iw_samples: NonNegInt = 0,
        iw_rows_per_chunk: PosInt = 4096,
        active_threshold: NonNegFloat = 0.01,
        min_active_share: Share = 0.5,
        check_finite: Bool = True,
        vae: nn.Module | None = None,
    ):
        super().__init__()
        self.vae = (
            vae
            if vae is not None
            else one_layer_vae(encoder, decoder, likelihood, prior, data_shape, latent_dim, iw_rows_per_chunk)
        )
        if vae is not None and any(part is not None for part in (encoder, decoder, likelihood, prior)):
            raise ConfigError(
                "model.vae is a whole model (its own likelihood and prior): model.encoder, model.decoder, "
                "model.likelihood and model.prior must be null beside it"
            )
        self.objective = ELBOObjective() if objective is None else objective
        self.objective.check_model(self.vae)
        self.kl_schedule = Constant() if kl_schedule is None else kl_schedule
        # FactorVAE trains its discriminator with its own optimiser, step by step.
        self.automatic_optimization = not self.objective.adversarial
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        # Importance samples for test/nll and (0 = off) val/nll: K decoder passes per image. Configs set
        # them through eval.num_samples and eval.val_num_samples only (conf/model/vae.yaml; see the schema).
        self.num_iw_samples, self.val_iw_samples = int(num_iw_samples), int(val_iw_samples)
        self.min_active_share = float(min_active_share)
        self.check_finite = bool(check_finite)
        num_dims = math.prod(self.vae.data_shape) if self.vae.is_image else None
        self.elbo = nn.ModuleDict({s: ELBO() for s in SPLITS})
        self.loss = nn.ModuleDict({s: MeanMetric().set_dtype(torch.float64) for s in SPLITS})
        self.latent_usage = nn.ModuleDict({s: LatentUsage(self.vae.latent_dim, active_threshold) for s in SPLITS})
        self.nll = nn.ModuleDict({s: NLL(num_dims=num_dims) for s in SPLITS})
        # A hierarchical model's KL per group of latents (top first), as its posterior reports it.
        self.group_names = tuple(getattr(self.vae, "group_names", ()))
        self.group_kl = nn.ModuleDict({s: nn.ModuleList(MeanMetric() for _ in self.group_names) for s in SPLITS})
        #: Per-dimension latent statistics of the last validation/test: {"val": {...}, "test": {...}}.
        self.latent_report: dict[str, dict[str, list[float]]] = {}
        #: What built this model (resolved config, versions); stored in every checkpoint.
        self.run_info: dict[str, Any] = {}
        # The device-side watch for a non-finite loss off the CPU (_watch_finite): first bad step, its term.
        self._first_bad: torch.Tensor | None = None
        self._recon_bad: torch.Tensor | None = None
        #: The training step's loss through torch.compile (trainer.compile, vaelab.runs.compiled), or
        #: None: the objective itself. A plain attribute, not a module: the state dict is unchanged.
        self.compiled_loss: Callable[..., Step] | None = None
        #: Optimiser steps per Lightning step, and the rows of each (trainer.steps_per_execution:
        #: vaelab.runs.executions sets both before fitting). 1: Lightning's automatic optimisation.
        self.steps_per_execution, self.slice_size = 1, 0
        self._names_steps = False  # set when training starts (on_train_start)

    def forward(self, x: torch.Tensor):
        """Inference only: the posterior q(z|x)."""
        return self.vae.encode(x)

    def setup(self, stage: str) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is not None and "train" in getattr(datamodule, "splits", {}):
            self.objective.dataset_size = len(datamodule.splits["train"][0])

    def on_fit_start(self) -> None:
        # A researcher's part that does not fit its interface is named now, not deep in a step.
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is not None:
            x = next(iter(datamodule.train_dataloader()))[0]
            check_parts(self, x.to(self.device))

    def kl_weight(self) -> float:
        """The KL schedule's factor at this step while training; evaluation uses the full weight."""
        return float(self.kl_schedule(self.global_step)) if self.training else 1.0

    # ----------------------------------------------------------------- training

    def training_step(self, batch: Sequence[torch.Tensor], batch_idx: int) -> torch.Tensor:
        if self.steps_per_execution > 1:
            return self._execute(batch[0])
        step = self._step(batch[0])
        if self.objective.adversarial:
            self._adversarial_step(batch[0], step)
        self._log_train_step(step)
        return step.loss

    def _step(self, x: torch.Tensor) -> Step:
        """The objective on one batch at this step's KL weight, its loss checked."""
        self.objective.global_step = self.global_step
        loss = self.compiled_loss or self.objective
        step = loss(self.vae, x, self.kl_weight())
        # One scalar check a step. A gradient that is not finite is not checked for itself (reading
        # every gradient cost 5% of a step): the update spreads it into the weights, so the next
        # step's loss is not finite, and the weights are checked before any checkpoint is written.
        if self.check_finite:
            self._watch_finite(step)
        return step

    def _execute(self, x: torch.Tensor) -> torch.Tensor | None:
        """trainer.steps_per_execution = K: K optimiser steps on the K batches Lightning handed over
        at once (x: (K * slice_size, ...), the epoch's last hand-out shorter), each as automatic
        optimisation would take it: zero_grad, loss, backward, step. Lightning's optimiser wrapper
        counts each step, so global_step, the KL schedule and max_steps count optimiser steps."""
        optimizer = self.optimizers()
        max_steps = self.trainer.max_steps
        parts = x.split(self.slice_size)  # each (slice_size, ...)
        loss = None
        for taken, part in enumerate(parts):
            if 0 <= max_steps <= self.global_step:
                # The rest of the hand-out is for a resumed run with a later max_steps.
                self.trainer.train_dataloader.give_back(len(parts) - taken)
                break
            optimizer.zero_grad()
            step = self._step(part)
            self._log_train_step(step)
            self.manual_backward(step.loss)
            optimizer.step()
            loss = step.loss.detach()
        if self._names_steps:  # a checkpoint written now names this step
            self.log_dict(self._step_axis(self.global_step), logger=False)
        return loss

    def on_train_start(self) -> None:
        # Lightning names checkpoint files by a logged "step" (_step_axis) before its own count: with
        # K steps a hand-out, one kept by step number must read the current step, not the last
        # validation's. Logging it each hand-out costs about 1 ms (Lightning's log), so only then.
        self._names_steps = self.steps_per_execution > 1 and any(
            getattr(callback, "save_top_k", 1) != 0
            and "step" in (getattr(callback, "filename", None) or "{epoch}-{step}")
            for callback in self.trainer.checkpoint_callbacks
        )

    def _adversarial_step(self, x: torch.Tensor, step: Step) -> None:
        """Manual optimisation: the model's update on the objective's loss, then the
        discriminator's own update (Kim & Mnih, 2018, Algorithm 2)."""
        model_opt, disc_opt = self.optimizers()
        model_opt.zero_grad()
        self.manual_backward(step.loss)
        model_opt.step()  # the model's parameters only: the discriminator is not trained on this loss
        disc_loss, terms = self.objective.discriminator_step(self.vae, x, step)
        disc_opt.zero_grad()  # the discriminator's gradient from its own loss only
        self.manual_backward(disc_loss)
        # Through the strategy (the precision plugin's loss scaling), not the LightningOptimizer:
        # under manual optimisation Lightning counts every LightningOptimizer step as a global
        # step, and one batch must stay one step (KL schedule, train/ logging cadence, max_steps).
        self.trainer.strategy.optimizer_step(disc_opt.optimizer, closure=lambda: None)
        step.terms.update(terms)

    def _log_train_step(self, step: Step) -> None:
        """Per-step batch values (val/test are exact split means from torchmetrics instead)."""
        # Lightning sends step values to the loggers only every log_every_n_steps steps;
        # logging in between costs a millisecond a step (a fifth of an MLP step) for nothing.
        if (self.global_step + 1) % self.trainer.log_every_n_steps:
            return
        values = {"loss": step.loss, "elbo": -(step.recon + step.kl).mean(), "recon": step.recon.mean()}
        values |= {"kl": step.kl.mean(), **step.terms}
        values = {f"train/{k}": torch.as_tensor(v).detach().float() for k, v in values.items()}
        several = self.steps_per_execution > 1
        self.log_dict(values, on_step=True, on_epoch=False, batch_size=len(step.recon), logger=not several)
        if several:
            # Lightning sends step values every log_every_n_steps of its own steps (hand-outs of K
            # batches, which need not divide an epoch): sent here, at this optimiser step, instead.
            scalars = {k: v.item() for k, v in values.items()} | {"epoch": self.current_epoch}
            for logger in self.loggers:
                logger.log_metrics(scalars, step=self.global_step)

    def _step_axis(self, step: int) -> dict[str, float]:
        """With several optimiser steps per Lightning step, Lightning would label the values it sends
        at an epoch's or a validation's end with its count of hand-outs; a logged "step" is the x
        value it sends to the loggers instead (LightningModule.log's documented override): the
        optimiser steps taken. Lightning also names checkpoints by this "step", so it is logged at
        every hand-out too when a checkpoint is kept under its step number. (With one step per
        batch Lightning labels validation one step less, as it validates before it counts the
        batch; history.jsonl has the steps taken.)"""
        return {"step": float(step)} if self.steps_per_execution > 1 else {}

    def _watch_finite(self, step: Step) -> None:
        """Stop at a loss that is not finite, naming its step. On the CPU each step's loss is read
        at once. On a GPU reading it would make the host wait for the device every step, so the
        first bad step (and whether its reconstruction term was the bad one) is kept on the device
        and read every log_every_n_steps steps and before every checkpoint (`check_watch`)."""
        if self.reads_loss_each_step():
            if not torch.isfinite(step.loss):
                self._raise_not_finite(step)
            return
        bad = ~torch.isfinite(step.loss)
        if self._first_bad is None:
            self._first_bad = torch.full((), -1, dtype=torch.long, device=self.device)
            self._recon_bad = torch.zeros((), dtype=torch.bool, device=self.device)
        first = bad & (self._first_bad < 0)
        self._first_bad = torch.where(first, self.global_step, self._first_bad)
        self._recon_bad = torch.where(first, ~torch.isfinite(step.recon).all(), self._recon_bad)
        if (self.global_step + 1) % self.trainer.log_every_n_steps == 0:
            self.check_watch()

    def reads_loss_each_step(self) -> bool:
        """On the CPU (or outside a Trainer) reading a scalar costs microseconds: every step."""
        return self._trainer is None or self.device.type == "cpu"

    def check_watch(self) -> None:
        """Raise for the first non-finite loss the device-side watch saw (see `_watch_finite`)."""
        if self._first_bad is None or int(self._first_bad) < 0:
            return
        term = "reconstruction term (recon)" if bool(self._recon_bad) else "KL term"
        raise NotFinite(
            f"step {int(self._first_bad)}: the {term} of the loss is not finite "
            f"(seen at step {self.global_step}: on a {self.device.type} device the loss is read every "
            f"trainer.log_every_n_steps={self.trainer.log_every_n_steps} steps)"
        )

    def _raise_not_finite(self, step: Step) -> None:
        """Name the cause: weights that an earlier update made non-finite, else the loss term."""
        bad = first_non_finite(self)
        if bad is not None:
            raise NotFinite(
                f"step {self.global_step}: the loss is not finite: the weights are (first in {bad}), "
                "so the previous update had a gradient that was not finite"
            )
        term = "reconstruction term (recon)" if not torch.isfinite(step.recon).all() else "KL term"
        raise NotFinite(f"step {self.global_step}: the {term} of the loss is not finite")

    # ----------------------------------------------------------------- evaluation

    def _eval_step(self, batch: Sequence[torch.Tensor], split: str) -> None:
        x = batch[0]
        step = self.objective(self.vae, x, 1.0)
        self.elbo[split].update(step.recon, step.kl)
        self.loss[split].update(step.loss, weight=x.shape[0])
        q = step.q
        self.latent_usage[split].update(q.base_dist.loc, 2 * q.base_dist.scale.log(), getattr(q, "kl_dims", None))
        kl_groups = getattr(q, "kl_groups", None)  # (B, G)
        for g, metric in enumerate(self.group_kl[split] if kl_groups is not None else ()):
            metric.update(kl_groups[:, g])
        k = self.num_iw_samples if split == "test" else self.val_iw_samples
        if k > 0:
            self.nll[split].update(self.vae.log_marginal(x, k))
        for name, value in step.terms.items():
            self.log(f"{split}/{name}", value, on_epoch=True, batch_size=x.shape[0], sync_dist=True)

    def validation_step(self, batch, batch_idx):
        self._eval_step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._eval_step(batch, "test")

    def _log_split(self, split: str) -> None:
        values = {f"{split}/loss": self.loss[split].compute()}
        self.loss[split].reset()
        metrics = [self.elbo[split], self.latent_usage[split]]
        if split == "test" or self.val_iw_samples > 0:
            metrics.append(self.nll[split])
        for metric in metrics:
            values.update({f"{split}/{k}": v for k, v in metric.compute().items()})
            metric.reset()
        values.update(self._group_values(split, values[f"{split}/mean_variance"]))
        # Per-dimension vectors go to the report (metrics.json), scalars to the loggers.
        self.latent_report[split] = {k.split("/")[1]: v.tolist() for k, v in values.items() if v.dim() > 0}
        self.log_dict({k: v for k, v in values.items() if v.dim() == 0}, prog_bar=split == "val")
        self.log_dict(self._step_axis(self.global_step))
        share = float(values[f"{split}/active_share"])
        if split == "test" and share < self.min_active_share:
            log.warning(
                "%s: only %d of %d latent units are active (variance of the posterior mean > %g): "
                "posterior collapse? (warning below eval.min_active_share=%g)",
                split,
                int(values[f"{split}/active_units"]),
                self.vae.latent_dim,
                self.latent_usage[split].threshold,
                self.min_active_share,
            )

    def _group_values(self, split: str, mean_variance: torch.Tensor) -> dict[str, torch.Tensor]:
        """A hierarchical model's KL and active units per group: {split}/kl_z2, {split}/active_units_z1, ..."""
        values = {}
        variances = mean_variance.split(list(self.vae.group_sizes)) if self.group_names else ()
        threshold = self.latent_usage[split].threshold
        for name, metric, variance in zip(self.group_names, self.group_kl[split], variances):
            if metric.update_count:
                values[f"{split}/kl_{name}"] = metric.compute()
            metric.reset()
            values[f"{split}/active_units_{name}"] = (variance > threshold).sum().float()
        return values

    def on_train_epoch_end(self) -> None:
        if self.check_finite:
            self.check_watch()
        self.log_dict(self._step_axis(self.global_step))  # the epoch's values (train/images_per_s)

    def on_validation_epoch_end(self):
        self._log_split("val")

    def on_test_epoch_end(self):
        self._log_split("test")

    # ----------------------------------------------------------------- optimisers and checkpoints

    def configure_optimizers(self):
        # No optimizer given (a system built in Python): Adam at 1e-3, Kingma & Ba's default.
        factory = self.optimizer_factory or functools.partial(torch.optim.Adam, lr=1e-3)
        optimizer = factory(params=self.vae.parameters())
        if self.objective.adversarial:
            if self.scheduler_factory is not None:
                raise ConfigError(
                    "a learning-rate scheduler is not supported with an adversarial objective (FactorVAE)"
                )
            return [optimizer, self.objective.discriminator_optimizer()]
        if self.scheduler_factory is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": self._lr_scheduler(optimizer)}

    def _lr_scheduler(self, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
        """Lightning's lr_scheduler config from model.scheduler (conf/scheduler): the scheduler
        built on this optimiser, and the interval, frequency and monitored metric as configured."""
        node = self.scheduler_factory
        if not isinstance(node, Mapping):  # a bare scheduler partial: Lightning's defaults (every epoch)
            return {"scheduler": node(optimizer=optimizer)}
        factory = node["scheduler"]
        # A scheduler that spans the whole fit (total_steps: null) is told its length here, where
        # the trainer knows it: optimiser steps over max_epochs (or max_steps), after accumulation.
        if isinstance(factory, functools.partial) and factory.keywords.get("total_steps", 0) is None:
            total = self.trainer.estimated_stepping_batches
            if not math.isfinite(total):
                raise ConfigError(
                    "scheduler.scheduler.total_steps=null needs a run of known length: "
                    "set trainer.max_epochs or trainer.max_steps, or scheduler.scheduler.total_steps"
                )
            factory = functools.partial(factory, total_steps=int(total))
        return {
            "scheduler": factory(optimizer=optimizer),
            "interval": node["interval"],
            "frequency": node["frequency"],
            "monitor": node["monitor"],
        }

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # A checkpoint never holds weights that are not finite: the last good one stays the last.
        if self.check_finite:
            self.check_watch()
        bad = first_non_finite(self) if self.check_finite else None
        if bad is not None:
            raise NotFinite(
                f"step {self.global_step}: the weights are not finite after the update (first in {bad}): "
                "a gradient was not finite; not saved"
            )
        checkpoint["vaelab"] = {**self.run_info, "format": FORMAT}
        # The random state, so that a resumed run draws the same noise as one never interrupted.
        checkpoint["rng_state"] = torch.get_rng_state()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        migrate(checkpoint)  # a checkpoint of an older format resumes in today's (vaelab.runs.formats)
        # Lightning restores the checkpoint callbacks' records right after this hook, and deletes
        # files by them: keep only records of files in this run's own checkpoint folders.
        if self._trainer is not None and isinstance(checkpoint.get("callbacks"), dict):
            folders = [callback.dirpath for callback in self.trainer.checkpoint_callbacks]
            for name in confine_records(checkpoint["callbacks"], folders):
                log.warning("the checkpoint's record of %s names files outside %s: not restored", name, folders)
        if "rng_state" in checkpoint:
            torch.set_rng_state(checkpoint["rng_state"])


def one_layer_vae(encoder, decoder, likelihood, prior, data_shape, latent_dim, iw_rows_per_chunk) -> VAE:
    """The VAE of an encoder and a decoder (conf/model/mlp.yaml, conv.yaml); prior N(0, I) if none."""
    missing = [
        name
        for name, part in (
            ("encoder", encoder),
            ("decoder", decoder),
            ("likelihood", likelihood),
            ("data_shape", data_shape),
            ("latent_dim", latent_dim),
        )
        if part is None
    ]
    if missing:
        raise ConfigError(
            f"model: {', '.join('model.' + m for m in missing)} missing: a VAE needs an encoder, "
            "a decoder, a likelihood, the data's shape and latent_dim (or a whole model.vae)"
        )
    prior = StandardNormal(latent_dim) if prior is None else prior
    return VAE(encoder, decoder, likelihood, prior, data_shape, latent_dim, iw_rows_per_chunk)


def first_non_finite(module: nn.Module) -> str | None:
    """The name of the first parameter of `module` holding a value that is not finite, or None."""
    for name, p in module.named_parameters():
        if not torch.isfinite(p).all():
            return name
    return None
