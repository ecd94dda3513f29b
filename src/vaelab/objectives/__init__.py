"""Training objectives, one per `conf/objective/*.yaml` (see base.Objective)."""

from vaelab.objectives.base import Objective, Step
from vaelab.objectives.elbo import ELBO

__all__ = ["Objective", "Step", "ELBO"]
