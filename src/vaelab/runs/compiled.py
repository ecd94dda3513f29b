"""`trainer.compile`: the training step's loss through `torch.compile`.

What is compiled is the objective's forward with the vae it trains, as one graph: the encoder,
the reparameterised sample, the decoder, the likelihood and the loss (for the ELBO the closed-form
KL, vaelab.model.vae.normal_kl, which torch.distributions' type dispatch would break). The
backward pass is compiled with it (AOTAutograd). Validation, test and sampling stay eager: their
batch sizes and grad mode differ, and each would be a compile of its own for code that runs a
few times an epoch.

Nothing is wrapped: the system's vae and objective stay the modules they were, so a checkpoint's
keys carry no `_orig_mod.` and one saved with compile on loads with compile off and back.

- The KL weight goes in as a 0-d tensor, not a Python float: a warm-up's new weight each step is
  then an input of the graph, not a constant to recompile for.
- One static graph (`dynamic=False`), for the shape of the first training batch. A batch of
  another shape (the epoch's last, smaller one) runs eager: one step an epoch is not worth a
  second compile (7 s on the CPU here), and a graph for any batch size (dynamic shapes) took
  longer to compile and ran no faster.
- Objectives opt in with `compilable = True` (vaelab.objectives.base): ELBO, DIP-VAE and IWAE,
  each one graph, but IWAE's DReG estimator (objective.estimator=dreg) in three: its
  torch.autograd.grad inside the loss is not traced. Refused in one line before any work
  (vaelab.config.schema) are the others: beta-TCVAE (a `.item()` in its estimator), the
  capacity objective (reads the step count, a Python number, every step: a recompile each) and
  FactorVAE (trains its discriminator by hand).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import torch
from torch import nn

log = logging.getLogger(__name__)


def backend_of(setting: Any) -> str | None:
    """The torch.compile backend a `trainer.compile` value asks for (vaelab.config.schema checked it):
    true is "inductor" (C++ on the CPU, Triton on GPUs); None when it is off."""
    if setting is True:
        return "inductor"
    if setting is False or setting is None:  # None: a checkpoint's config from before the setting
        return None
    return str(setting)


class CompiledLoss:
    """`objective(vae, x, kl_weight)` compiled; records the seconds its first call took to compile."""

    def __init__(self, objective: nn.Module, backend: str):
        self.objective, self.backend = objective, backend
        self.compiled = torch.compile(objective.forward, backend=backend, dynamic=False)
        #: Wall seconds of the first call, which traces and compiles the graph (forward and backward).
        #: A later recompile (a guard that failed, say a parameter's dtype changed) is not in it:
        #: torch.compile has no public count of the graphs it compiled.
        self.compile_seconds = 0.0
        #: The batch shape the graph is for: that of the first training batch.
        self.shape: torch.Size | None = None

    def __call__(self, vae: nn.Module, x: torch.Tensor, kl_weight: float):
        weight = torch.tensor(float(kl_weight))
        if self.shape is not None:
            if x.shape != self.shape:
                return self.objective(vae, x, kl_weight)
            return self.compiled(vae, x, weight)
        self.shape = x.shape
        start = time.perf_counter()
        step = self.compiled(vae, x, weight)
        self.compile_seconds = time.perf_counter() - start
        log.info(
            "trainer.compile: compiled the training step for batches of %s in %.1f s (%s)",
            tuple(x.shape),
            self.compile_seconds,
            self.backend,
        )
        return step


def compile_training(system: Any, setting: Any) -> None:
    """Give `system` (vaelab.system.VAESystem) a compiled training loss when `setting` asks for one."""
    backend = backend_of(setting)
    if backend is None:
        return
    if not hasattr(system, "compiled_loss"):  # a researcher's own system, which does not read it
        log.warning(
            "trainer.compile=%s: %s has no compiled_loss to use; it trains eager", setting, type(system).__name__
        )
        return
    # A sweep runs its jobs in one process: each compiles its own step afresh (inductor's cache on
    # disk makes a repeated one quick). Kept, the graphs of earlier jobs' models would count towards
    # torch.compile's limit of 8 per function, past which it runs eager.
    torch.compiler.reset()
    system.compiled_loss = CompiledLoss(system.objective, backend)
