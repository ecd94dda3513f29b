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
    from vaelab.errors import reported
    from vaelab.runs.rundir import run_dir

    # Hydra resolves this before the job starts, outside train.py's own error handling:
    # report a bad log_dir or a missing earlier run here, in the same one line.
    with reported():
        return run_dir(runs, ckpt_path, overrides)


def _record_dir(run_dir: str) -> str:
    from vaelab.runs.rundir import record_dir

    return record_dir(run_dir)


def _beside_run(ckpt_path: str | None, folder: str) -> str:
    from vaelab.cli.apps import beside_run

    return beside_run(ckpt_path, folder)


def register_resolvers() -> None:
    """${vaelab.params_per_dim:<likelihood _target_>}, ${vaelab.array_shape:<path>,<key>},
    ${vaelab.run_dir:<runs folder>,<ckpt_path>,<overrides>}, ${vaelab.record_dir:<run dir>} and
    ${vaelab.beside_run:<ckpt_path>,<folder>} (where vaelab-eval and vaelab-sample write)."""
    resolvers = (
        ("vaelab.params_per_dim", _params_per_dim),
        ("vaelab.array_shape", _array_shape),
        ("vaelab.run_dir", _run_dir),
        ("vaelab.record_dir", _record_dir),
        ("vaelab.beside_run", _beside_run),
    )
    for name, fn in resolvers:
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)


register_resolvers()
