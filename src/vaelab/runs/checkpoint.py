"""Rebuild a trained model from its checkpoint alone, trusting nothing in the file.

Every vaelab checkpoint stores the config that built its model (see `VAE.on_save_checkpoint`).
A checkpoint is data from anywhere, so reading one:
- `torch.load(weights_only=True)`: tensors and plain containers only, never pickled objects;
- the stored config may call no resolver but `vaelab.params_per_dim` (which itself accepts only
  vaelab's likelihoods): no environment reads, no file or directory access at resolution;
- every `_target_` in it must be on vaelab's list (vaelab.config.targets), checked over the
  whole resolved tree before anything is instantiated;
- its settings and the load-time overrides must pass the schema (vaelab.config.schema);
  an override of a key the config does not have is refused, not ignored;
- its checkpoint callbacks' records must be of ModelCheckpoint's shape, naming plain local
  files in their own folder (vaelab.runs.callback_state): Lightning deletes files by them.

vaelab-eval and vaelab-sample (vaelab.cli.apps) hand `load_model` the groups chosen on their command
line and the overrides of the checkpoint's other settings.
"""

from __future__ import annotations

import difflib
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from vaelab.config import schema, targets
from vaelab.config.composition import setting_paths
from vaelab.errors import CheckpointError, MissingFile
from vaelab.runs.callback_state import check_records
from vaelab.runs.formats import migrate

# Interpolations in a stored config may reference other keys (${model.latent_dim}) and call this only.
SAFE_RESOLVERS = ("vaelab.params_per_dim",)
RESOLVER_CALL = re.compile(r"\$\{\s*([^\s:}{]+)\s*:")


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint dict, after checking it is a vaelab checkpoint whose config calls no unsafe resolver."""
    import torch  # here: `vaelab-eval --help` needs no torch

    path = Path(path).expanduser()
    if path.is_dir():
        found = next((p for p in (path / "checkpoints" / "last.ckpt", path / "last.ckpt") if p.is_file()), None)
        hint = f"did you mean ckpt_path={found}?" if found else "give a .ckpt file (a run's checkpoints/last.ckpt)"
        raise CheckpointError(f"ckpt_path={path}: is a directory, not a checkpoint file; {hint}")
    if not path.is_file():
        raise MissingFile(f"ckpt_path={path}: no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on pickle protocols: nothing the user can act on
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, not a torch file, a pickle with code in it, ...
        # torch's own message advises loading with weights_only=False, which would run the file's code.
        raise CheckpointError(f"ckpt_path={path}: not a readable checkpoint: {_unreadable(path, err)}") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointError(f"ckpt_path={path}: not a Lightning checkpoint (no state_dict)")
    if not isinstance(checkpoint.get("vaelab"), dict) or not isinstance(checkpoint["vaelab"].get("config"), dict):
        raise CheckpointError(f"ckpt_path={path}: holds no vaelab config, so the model cannot be rebuilt from it")
    _refuse_resolvers(checkpoint["vaelab"]["config"], f"ckpt_path={path}")
    check_records(checkpoint.get("callbacks"), f"ckpt_path={path}")
    migrate(checkpoint)  # older formats in today's (vaelab.runs.formats)
    _one_name_for_k(checkpoint["vaelab"]["config"])
    _trainer_defaults(checkpoint["vaelab"]["config"])
    return checkpoint


def _trainer_defaults(config: dict[str, Any]) -> None:
    """A config stored before conf/trainer listed every Trainer argument ran the ones it lacks
    with Lightning's defaults: said so, so that a resume compares like with like."""
    trainer = config.get("trainer")
    if not (isinstance(trainer, dict) and trainer.get("_target_") == "lightning.pytorch.Trainer"):
        return
    import inspect

    from lightning.pytorch import Trainer

    for name, parameter in inspect.signature(Trainer.__init__).parameters.items():
        if name not in ("self", "logger", "callbacks") and parameter.default is not inspect.Parameter.empty:
            trainer.setdefault(name, parameter.default)


def _unreadable(path: Path, err: Exception) -> str:
    """What a file that torch.load(weights_only=True) refused is, told by its first bytes."""
    with path.open("rb") as f:
        head = f.read(512)
    if not head:
        return "the file is empty (0 bytes)"
    if head.startswith(b"PK\x03\x04"):  # a zip archive: what torch.save writes
        if "Weights only load failed" not in str(err):
            return f"a truncated or corrupt torch file ({path.stat().st_size} bytes): copy or save it again"
        named = re.search(r"GLOBAL (\S+) was not an allowed", str(err))
        what = f" ({named.group(1)})" if named else ""
        return f"it holds Python objects{what} that vaelab does not load; a vaelab checkpoint holds tensors and plain values only"
    if head[0] == 0x80:  # a pickle's protocol byte: pickle.dump, or torch.save's legacy format
        return "a Python pickle, not a vaelab checkpoint; vaelab does not load pickled objects"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "not a vaelab checkpoint (not a file that torch.save wrote)"
    return "a text file, not a vaelab checkpoint (not a file that torch.save wrote)"


def _one_name_for_k(config: dict[str, Any]) -> None:
    """The model's importance-sample counts follow eval.num_samples and eval.val_num_samples (the
    one name for them), also in a stored config that kept them as plain numbers."""
    model, section = config.get("model"), config.get("eval")
    if isinstance(model, dict) and isinstance(section, dict):
        for copy, name in (("num_iw_samples", "num_samples"), ("val_iw_samples", "val_num_samples")):
            if copy in model and name in section:
                model[copy] = f"${{eval.{name}}}"


def _refuse_resolvers(tree: Any, source: str, where: str = "") -> None:
    if isinstance(tree, dict):
        for key, value in tree.items():
            _refuse_resolvers(value, source, f"{where}.{key}" if where else str(key))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            _refuse_resolvers(value, source, f"{where}[{i}]")
    elif isinstance(tree, str):
        for name in RESOLVER_CALL.findall(tree):
            if name not in SAFE_RESOLVERS:
                raise targets.RefusedTarget(
                    f"{source}: refused: {where} calls the resolver {name!r}; a checkpoint's config may call "
                    f"only {', '.join(SAFE_RESOLVERS)}"
                )


# Groups whose config the checkpoint's weights define: another choice at load time is refused.
MODEL_GROUPS = ("model", "likelihood", "prior")


def stored_config(
    checkpoint: dict[str, Any],
    path: str | Path,
    overrides: Sequence[str] = (),
    groups: Mapping[str, tuple[str, Any]] | None = None,
    settings: Mapping[str, Any] | None = None,
    trust: targets.Trust | None = None,
) -> DictConfig:
    """The checkpoint's config with, in this order, `groups` ({group: (choice, config node)})
    replacing its own, the `key=value` (or `++key=value`) `overrides` applied, and `settings`
    ({dotted key: value}, a command's own) set; checked: only known keys, only vaelab's own
    targets and those of the packages in `trust` (default: the installed plugins' only), every
    value in its schema's range, data of the shape the model was trained on."""
    source = f"ckpt_path={path}"
    trust = trust or targets.Trust.of()
    # The targets as written, then (below) as resolved: a config that does not even resolve
    # is still refused for what it names.
    targets.check(checkpoint["vaelab"]["config"], source, trust=trust)
    try:
        cfg = OmegaConf.create(checkpoint["vaelab"]["config"])
        # What the weights were trained on: the system's setting, or a whole model's (model.vae).
        model_shape = list(OmegaConf.select(cfg, "model.data_shape") or OmegaConf.select(cfg, "model.vae.data_shape"))
    except (OmegaConfBaseException, ValueError, TypeError) as err:
        raise CheckpointError(f"{source}: its stored config is not readable ({' '.join(str(err).split())})") from None
    OmegaConf.set_struct(cfg, True)  # an override of a key the config lacks is an error, not a new key
    for group, (choice, node) in (groups or {}).items():
        _replace_group(cfg, group, choice, node)
    for override in parse_overrides(overrides):
        if override.is_add() or override.is_delete() or override.is_sweep_override():
            raise CheckpointError(
                f"{override.input_line}: a checkpoint's settings are changed with key=value, "
                "not added (+), removed (~) or swept (a,b without -m)"
            )
        _apply(cfg, override.key_or_group, override.value(), override.input_line.removeprefix("++"))
    for key, value in (settings or {}).items():
        OmegaConf.update(cfg, key, value, merge=False)
    # Only params_per_dim may run while resolving (see read_checkpoint); then the resolved targets.
    tree = schema.validate(cfg, source=f"{source}: ", trust=trust)
    targets.check(tree, source, trust=trust)
    from vaelab.data.shapes import check_compatible

    chosen = (groups or {}).get("data")
    check_compatible(model_shape, tree["data"]["shape"], f"data={chosen[0]}" if chosen else "data.shape")
    return cfg


def parse_overrides(overrides: Sequence[str]) -> list[Any]:
    """Hydra's own parse of `key=value` words (the grammar of every vaelab command line)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        return OverridesParser.create().parse_overrides(list(overrides))
    except HydraException as err:
        raise CheckpointError(" ".join(str(err).split())) from None


def _replace_group(cfg: DictConfig, group: str, choice: str, node: Any) -> None:
    """cfg[group] = node, the config of `group=choice` as composed on the command line. The weights
    define the model: a model-defining group is taken only when it matches the checkpoint's."""
    stored = cfg.get(group)
    stored = OmegaConf.to_container(stored, resolve=False) if OmegaConf.is_config(stored) else stored
    if group in MODEL_GROUPS and node != stored:
        where = _first_difference(node, stored, group)
        raise CheckpointError(
            f"{group}={choice}: refused: the checkpoint's weights define its {group}, and {where}; "
            f"leave {group}= out to use the checkpoint's"
        )
    with open_dict(cfg):
        cfg[group] = node


def _first_difference(a: Any, b: Any, path: str) -> str:
    """Where two config trees first differ, said as `path=a (the checkpoint's: b)`."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            if a.get(key, "<absent>") != b.get(key, "<absent>"):
                return _first_difference(a.get(key, "<absent>"), b.get(key, "<absent>"), f"{path}.{key}")
    return f"{path}={a} differs (the checkpoint's: {b})"


def _apply(cfg: DictConfig, key: str, value: Any, shown: str) -> None:
    try:
        OmegaConf.update(cfg, key, value, merge=True)
    except OmegaConfBaseException as err:
        parent, _, leaf = key.rpartition(".")
        node = OmegaConf.select(cfg, parent) if parent else cfg
        known = list(node.keys()) if isinstance(node, DictConfig) else []
        close = difflib.get_close_matches(leaf, known, n=1)
        hint = f"; did you mean {parent + '.' if parent else ''}{close[0]}?" if close else ""
        if not close:  # a key at another level: num_samples=... for eval.num_samples=...
            elsewhere = [p for p in setting_paths(cfg) if p.endswith(f".{leaf}")]
            hint = f"; did you mean {elsewhere[0]}?" if elsewhere else ""
        if leaf not in known:
            raise CheckpointError(f"{shown}: the checkpoint's config has no setting {key}{hint}") from None
        raise CheckpointError(f"{shown}: {' '.join(str(err).split()[:20])}") from None


def load_model(
    path: str | Path,
    overrides: Sequence[str] | None = None,
    groups: Mapping[str, tuple[str, Any]] | None = None,
    settings: Mapping[str, Any] | None = None,
    trust: targets.Trust | None = None,
) -> tuple[Any, DictConfig, dict[str, Any]]:
    """(model in eval mode, its config changed as `stored_config` says, the checkpoint dict)."""
    checkpoint = read_checkpoint(path)
    trust = trust or targets.Trust.of()
    cfg = stored_config(checkpoint, path, list(overrides or ()), groups, settings, trust)
    model = targets.instantiate(cfg.model, source=f"ckpt_path={path}", path="model", trust=trust)
    changes = [f"{g}={choice}" for g, (choice, _) in (groups or {}).items()] + list(overrides or ())
    load_weights(model, checkpoint, path, f" with {', '.join(changes)}" if changes else "")
    model.run_info = checkpoint["vaelab"]
    return model.eval(), cfg, checkpoint


def load_weights(model, checkpoint: dict[str, Any], path: str | Path, context: str = "") -> None:
    """Load a checkpoint's weights, or say clearly that they belong to a model of another shape."""
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as err:
        detail = " ".join(str(err).split())[:400]
        raise CheckpointError(
            f"ckpt_path={path}: its weights do not fit the model its config describes{context}: {detail}"
        ) from err
