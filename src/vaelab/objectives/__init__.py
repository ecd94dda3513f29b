"""Training objectives, one per `conf/objective/*.yaml` (see base.Objective)."""

from vaelab.objectives.base import Objective, Step
from vaelab.objectives.beta_tcvae import BetaTCVAE
from vaelab.objectives.capacity import Capacity
from vaelab.objectives.dip_vae import DIPVAE
from vaelab.objectives.elbo import ELBO
from vaelab.objectives.factor_vae import FactorVAE
from vaelab.objectives.iwae import IWAE

__all__ = ["Objective", "Step", "BetaTCVAE", "Capacity", "DIPVAE", "ELBO", "FactorVAE", "IWAE"]
