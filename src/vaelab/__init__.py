"""vaelab: variational autoencoder experiments.

Importing the package registers the OmegaConf resolvers that `conf/` uses; it imports
nothing heavy (torch, Lightning and W&B load when the parts that need them do).
"""

from importlib.metadata import PackageNotFoundError, version

from omegaconf import OmegaConf

try:
    __version__ = version("vaelab")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"


def _params_per_dim(target: str) -> int:
    from vaelab.likelihood import params_per_dim

    return params_per_dim(target)


def _array_shape(path: str, key: str | None = None) -> list[int]:
    from vaelab.data.array import array_shape

    return array_shape(path, key)


def _run_dir(runs: str, ckpt_path: str | None, overrides) -> str:
    from vaelab.rundir import run_dir

    return run_dir(runs, ckpt_path, overrides)


def register_resolvers() -> None:
    """${vaelab.params_per_dim:<likelihood _target_>}, ${vaelab.array_shape:<path>,<key>} and
    ${vaelab.run_dir:<runs folder>,<ckpt_path>,<overrides>}."""
    resolvers = (
        ("vaelab.params_per_dim", _params_per_dim),
        ("vaelab.array_shape", _array_shape),
        ("vaelab.run_dir", _run_dir),
    )
    for name, fn in resolvers:
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)


register_resolvers()
