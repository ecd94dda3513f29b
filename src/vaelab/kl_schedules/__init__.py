"""KL weight schedules, one per `conf/kl_schedule/*.yaml`: the factor (0 to 1) by which an
objective's KL weight is multiplied at a training step. Pure functions of the step, so a resumed
run (whose global step Lightning restores) continues the schedule exactly."""

from vaelab.kl_schedules.constant import Constant
from vaelab.kl_schedules.cyclical import Cyclical
from vaelab.kl_schedules.linear import Linear

__all__ = ["Constant", "Linear", "Cyclical"]
