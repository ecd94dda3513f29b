"""vaelab-resmlp: a worked vaelab plugin (a residual MLP encoder and the InfoVAE/MMD objective).

Configs name these classes as `vaelab_resmlp.ResMLPEncoder` and `vaelab_resmlp.MMD`
(conf/model/resmlp.yaml, conf/objective/mmd.yaml); the package is trusted for checkpoints through
its entry point in the group `vaelab.trusted` (pyproject.toml).
"""

from vaelab_resmlp.encoder import ResMLPEncoder
from vaelab_resmlp.mmd import MMD, imq_kernel, mmd

__all__ = ["ResMLPEncoder", "MMD", "imq_kernel", "mmd"]
