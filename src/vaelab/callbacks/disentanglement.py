"""Disentanglement scores of a training run, when its data has ground-truth factors.

MIG (Chen et al., 2018), SAP (Kumar et al., 2018), DCI (Eastwood & Williams, 2018), the
FactorVAE score (Kim & Mnih, 2018) and the beta-VAE score (Higgins et al., 2017) of the
posterior mean E_q[z|x], as disentanglement_lib computes them (Locatello et al., 2019, "Challenging
Common Assumptions in the Unsupervised Learning of Disentangled Representations"); the
definitions, sizes and seeding are vaelab.metrics.disentanglement's (`evaluate_all`).

The callback logs, on data with a factor source (data=shapes2d, dsprites, colour_objects; on
other data it does nothing):
- after testing: the default suite (disentanglement_lib's sizes; `fast_test=True`: the fast one)
  as `test/<score>` (test/mig, test/sap, test/dci_disentanglement, ..., test/beta_vae_score) and
  the seconds each metric took as `test/<metric>_seconds`; the scores are of the weights tested
  (the best checkpoint), and reach metrics.json and the W&B summary with the other test metrics;
- with `fast_every_n_epochs=N`: the fast suite at the validation of every N-th epoch, as
  `val/<score>` (also in history.jsonl, so vaelab-compare can draw its curve).
DCI's importances: `dci_estimator` after testing, gradient-boosted trees by default (the published
definition, disentanglement_lib's); `val_dci_estimator` during training, extremely randomised
trees by default (seconds instead of minutes). Scores of an estimator other than the boosted trees
carry its name: val/dci_disentanglement_extra_trees, ... (vaelab.metrics.disentanglement.dci).
What produced the scores of each split (suite, DCI estimator, every size, seed) is `metrics_record`,
which the run writes into metrics.json as its `disentanglement` block.
The factors are drawn from the source's whole grid, as disentanglement_lib draws them, not
from the run's test split. Every process of a DDP run computes the same scores (same weights,
same seed): no process waits for another.
"""

from __future__ import annotations

from typing import Any, Literal

import lightning as L
import torch

from vaelab.config.types import Bool, PosInt, Seed

Estimator = Literal["gbt", "extra_trees"]  # vaelab.metrics.disentanglement.dci.ESTIMATORS


def factor_source(datamodule: Any) -> Any | None:
    """The data module's factor source (vaelab.data.factors), set by its setup(); None for data
    without ground-truth factors."""
    return getattr(datamodule, "source", None)


def scores(
    vae: torch.nn.Module, datamodule: Any, seed: int = 0, fast: bool = False, dci_estimator: str = "gbt"
) -> dict[str, float]:
    """Disentanglement scores of `vae` (a vaelab.model.VAE) on the factors of `datamodule`
    (set up): evaluate_all's {"mig", "sap", "dci_disentanglement", "dci_completeness",
    "dci_informativeness", "factor_vae_score", "beta_vae_score", "<metric>_seconds", ...};
    {} when the data has no ground-truth factors. Same model, seed, `fast` and estimator: same scores."""
    source = factor_source(datamodule)
    if source is None:
        return {}
    # Imported here: scikit-learn (DCI's trees) is loaded only by runs on data with factors.
    from vaelab.metrics.disentanglement import evaluate_all, posterior_mean

    # DCI fits its factors' classifiers in as many threads as the run computes with (a study
    # that runs one thread a run, OMP_NUM_THREADS=1, fits one at a time): the same scores.
    threads = torch.get_num_threads()
    return evaluate_all(posterior_mean(vae), source, seed=seed, fast=fast, dci_estimator=dci_estimator, n_jobs=threads)


class Disentanglement(L.Callback):
    def __init__(
        self,
        fast_every_n_epochs: PosInt | None = None,
        seed: Seed = 0,
        fast_test: Bool = False,
        dci_estimator: Estimator = "gbt",
        val_dci_estimator: Estimator = "extra_trees",
    ):
        self.fast_every_n_epochs, self.seed, self.fast_test = fast_every_n_epochs, int(seed), bool(fast_test)
        self.estimators = {"test": dci_estimator, "val": val_dci_estimator}
        #: {"disentanglement": {split: metrics.disentanglement.suite(...)}} of each split scored.
        self.metrics_record: dict[str, dict[str, Any]] = {}

    def _log(self, trainer: L.Trainer, pl_module: L.LightningModule, split: str, fast: bool) -> None:
        estimator = self.estimators[split]
        values = scores(pl_module.vae, trainer.datamodule, self.seed, fast, estimator)
        if values:
            from vaelab.metrics.disentanglement import suite  # loaded by scores() already

            self.metrics_record.setdefault("disentanglement", {})[split] = suite(
                seed=self.seed, fast=fast, dci_estimator=estimator
            )
        # Epoch-level values from an epoch-end hook: Lightning sends them to the loggers and, for
        # testing, returns them from trainer.test (run.py writes those into metrics.json).
        pl_module.log_dict({f"{split}/{k}": float(v) for k, v in values.items()}, on_epoch=True)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        n = self.fast_every_n_epochs
        if n is None or trainer.sanity_checking or (trainer.current_epoch + 1) % n:
            return
        self._log(trainer, pl_module, "val", fast=True)

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._log(trainer, pl_module, "test", fast=self.fast_test)
