"""Where vaelab-sample draws latent codes from, one per `conf/sampler/*.yaml`.

A sampler is fitted once (`fit(model, datamodule)`; the prior needs nothing, `needs_data` says
whether it reads the training split) and then gives `distribution(model, temperature)`: a torch
Distribution over z with event shape (latent_dim,), whose draws the model decodes.
"""

from vaelab.samplers.gmm import GMMSampler
from vaelab.samplers.prior import PriorSampler

__all__ = ["PriorSampler", "GMMSampler"]
