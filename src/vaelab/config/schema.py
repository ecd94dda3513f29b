"""The types and ranges of every setting, in one place.

`validate(cfg)` checks a composed (or checkpoint-stored) config against this schema before any
work starts and raises one `ConfigError` line naming each bad setting, its value and what is
allowed. Modules take plain Python values and never see config paths; what a value may be is
said here. Components are told apart by `_target_` (the data source, likelihood, encoder...);
keys a component does not have are refused here, keyword arguments a class does not take in
vaelab.config.targets.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from vaelab.config.types import (  # noqa: F401 (the run-level schema's types; also used by components)
    Bool,
    Float,
    Int,
    Limit,
    NonNegFloat,
    NonNegInt,
    PosFloat,
    PosInt,
    Seed,
    Shape,
    Share,
    Size,
)
from vaelab.errors import ConfigError, root_cause


def available_accelerator(name: Any) -> str:
    """An accelerator Lightning can use on this machine; a GPU that is not there is refused here,
    before any work, rather than deep inside Lightning."""
    import torch

    if name in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError("no CUDA GPU is available on this machine; use cpu")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("no Apple GPU (MPS) is available on this machine; use cpu")
    if name not in ("cpu", "gpu", "cuda", "mps", "tpu", "auto"):
        raise ConfigError("must be one of 'cpu', 'gpu', 'cuda', 'mps', 'tpu' or 'auto'")
    return name


#: The precisions Lightning's Trainer accepts, and the short forms it reads as them (Lightning
#: 2.x's connector; it publishes no list, and tests/config/test_schema.py checks this one against
#: the installed Lightning's).
PRECISIONS = ("transformer-engine", "transformer-engine-float16", "16-true", "16-mixed", "bf16-true", "bf16-mixed")
PRECISIONS += ("32-true", "64-true")
PRECISION_SHORT = (64, 32, 16, "64", "32", "16", "bf16")


def lightning_precision(value: Any) -> Any:
    """A precision Lightning accepts, refused here, before any work, rather than by Lightning once
    the run has started."""
    if value not in PRECISIONS + PRECISION_SHORT:
        full, short = ", ".join(map(repr, PRECISIONS)), ", ".join(map(repr, PRECISION_SHORT))
        raise ConfigError(f"must be one of {full} (or the short forms {short})")
    return value


#: torch.compile backends trainer.compile may name (vaelab.runs.compiled); true is "inductor".
COMPILE_BACKENDS = ("inductor", "aot_eager", "eager")


def compile_setting(value: Any) -> Any:
    """trainer.compile: off, on (inductor), or the torch.compile backend to use."""
    if value is True or value is False or value in COMPILE_BACKENDS:
        return value
    raise ConfigError(f"must be true, false or a torch.compile backend: {', '.join(map(repr, COMPILE_BACKENDS))}")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Component(Section):
    """A node that names the class it builds."""

    target: str = Field(alias="_target_")


class Open(Component):
    """A component whose other keyword arguments its class's signature decides (see targets.check)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


# ------------------------------------------------------------------------------ the system


class Optimizer(Open):
    partial: Literal[True] = Field(alias="_partial_")
    lr: PosFloat


class SchedulerPartial(Open):
    """A torch.optim.lr_scheduler class (or vaelab's) that the system calls with the optimiser."""

    partial: Literal[True] = Field(alias="_partial_")


class Scheduler(Section):
    """Lightning's lr_scheduler config: the scheduler, when Lightning steps it (every `frequency`
    epochs or steps) and the metric a ReduceLROnPlateau reads."""

    scheduler: SchedulerPartial
    interval: Literal["epoch", "step"]
    frequency: PosInt
    monitor: str | None


class Model(Open):
    """The system (`vaelab.system.VAESystem`, or a researcher's): its settings and components are
    checked from its constructor's signature (vaelab.config.components); named here are those
    the rules across settings below read."""

    objective: Open | None = None
    optimizer: Optimizer | None = None
    # A bare scheduler partial (the form of earlier vaelab configs and checkpoints) steps every epoch.
    scheduler: Scheduler | Open | None = None
    num_iw_samples: Any = None
    val_iw_samples: Any = None


# ------------------------------------------------------------------------------ running


class Trainer(Open):
    max_epochs: Annotated[int, Strict(), Field(ge=-1)]
    min_epochs: NonNegInt | None = None
    accelerator: Annotated[str, AfterValidator(available_accelerator)]
    devices: PosInt | Literal[-1] | str | list[NonNegInt]
    num_nodes: PosInt = 1
    precision: Annotated[str | Int, AfterValidator(lightning_precision)]
    log_every_n_steps: PosInt
    check_val_every_n_epoch: PosInt | None
    gradient_clip_val: NonNegFloat | None
    deterministic: Bool | Literal["warn"]
    limit_train_batches: Limit | None
    limit_val_batches: Limit | None
    limit_test_batches: Limit | None
    fast_dev_run: Bool | NonNegInt
    # vaelab's own, not Lightning's (config.targets.EXTRAS): the training step through torch.compile.
    # Absent from the configs of checkpoints made before it.
    compile: Annotated[Any, AfterValidator(compile_setting)] = False
    # vaelab's own: optimiser steps per Lightning step (vaelab.runs.executions). Absent from older configs.
    steps_per_execution: PosInt = 1


class Study(Section):
    """The `study` section of runs made before conf/study named one setting a file (an objective's
    strengths by level name, and the level trained with): their checkpoints still validate."""

    strengths: Annotated[dict[str, NonNegFloat], Field(min_length=1)]
    level: str

    @field_validator("level")
    @classmethod
    def known_level(cls, level: str, info: ValidationInfo) -> str:
        strengths = info.data.get("strengths")
        if strengths is not None and level not in strengths:
            raise ConfigError(f"must be one of {sorted(strengths)} (the keys of study.strengths)")
        return level


class Eval(Section):
    num_samples: PosInt
    val_num_samples: NonNegInt
    active_threshold: NonNegFloat
    min_active_share: Share


class EvalAppEval(Section):
    num_samples: PosInt
    # null: the checkpoint's own
    active_threshold: NonNegFloat | None
    min_active_share: Share | None


class Quality(Section):
    """conf/quality: sample-quality numbers in vaelab-eval and vaelab-sample."""

    features: Literal["none", "classifier", "inception", "both"]
    num_samples: Annotated[int, Strict(), Field(ge=4)] | None
    cache_dir: str | None
    inception_weights: str | None
    k: PosInt
    kid_subsets: PosInt
    kid_subset_size: Annotated[int, Strict(), Field(ge=2)]
    seed: Annotated[int, Strict(), Field(ge=0, le=2**32 - 1)]


# Package names (mylab, mylab.models) whose classes a checkpoint's config may name (config.targets).
TrustList = list[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")]]


class EvalApp(Section):
    """conf/eval.yaml: what vaelab-eval sets beside the checkpoint's config."""

    ckpt_path: str
    trust: TrustList = []
    split: Literal["train", "val", "test"]
    pictures: Bool
    task_name: Annotated[str, Field(min_length=1)]
    eval: EvalAppEval
    disentanglement: Literal["full", "fast", "none"]
    ood: list[Annotated[str, Field(min_length=1)]]
    ood_resize: Bool
    ood_typicality_batch: PosInt
    ood_data_dirs: dict[str, str] | None
    quality: Quality


class SampleApp(Section):
    """conf/sample.yaml: what vaelab-sample sets beside the checkpoint's config."""

    ckpt_path: str
    trust: TrustList = []
    n: PosInt
    seed: Annotated[int, Strict(), Field(ge=0, le=2**32 - 1)]
    temperature: PosFloat
    interpolate: Bool
    pairs: PosInt
    steps: PosInt
    sampler: Open
    quality: Quality


class CompareApp(Section):
    """conf/compare.yaml: vaelab-compare's settings."""

    folders: Annotated[list[str], Field(min_length=1)]
    metric: str
    mode: Literal["min", "max"]
    out: str | None
    split: Literal["val", "test"]
    curve: str | None
    settle_tol: PosFloat

    @field_validator("folders", mode="before")
    @classmethod
    def one_folder(cls, folders: Any) -> Any:
        """folders=DIR is the list of that one folder."""
        return [folders] if isinstance(folders, str) else folders


class Paths(Section):
    root_dir: str
    data_dir: str
    log_dir: str
    output_dir: str


class Settings(Section):
    task_name: Annotated[str, Field(min_length=1)]
    tags: list[str]
    seed: Annotated[int, Strict(), Field(ge=0, le=2**32 - 1)]
    test: Bool
    ckpt_path: str | None
    # Absent from the configs of checkpoints made before it; never read from a checkpoint.
    trust: TrustList = []
    optimized_metric: str | None
    eval: Eval
    # The components: each checked from its own constructor's signature (vaelab.config.components).
    data: Open
    likelihood: Open
    prior: Open
    objective: Open
    kl_schedule: Open
    # Absent from the configs of checkpoints made before the optimizer and scheduler groups.
    optimizer: Optimizer | None = None
    scheduler: Scheduler | None = None
    model: Model
    trainer: Trainer
    logger: dict[str, Open | None] | None
    callbacks: dict[str, Open | None] | None
    paths: Paths
    # Only in checkpoints of earlier disentanglement studies (conf/study now sets the objective itself).
    study: Study | None = None

    @model_validator(mode="after")
    def one_name_for_k(self) -> Settings:
        """The importance samples are set as eval.num_samples and eval.val_num_samples only; the
        model's copies of them (conf/model/vae.yaml interpolates them) are not settings of their own."""
        for copy, value, name in (
            ("num_iw_samples", self.model.num_iw_samples, "num_samples"),
            ("val_iw_samples", self.model.val_iw_samples, "val_num_samples"),
        ):
            if value is not None and value != getattr(self.eval, name):
                raise ConfigError(
                    f"model.{copy}={value}: not a setting; the number of importance samples is eval.{name}"
                )
        return self

    @model_validator(mode="after")
    def compilable_objective(self, info: ValidationInfo) -> Settings:
        """trainer.compile compiles only objectives that say they can be (vaelab.runs.compiled):
        any other is refused now, not after the data loaded or in the middle of the first step."""
        objective = ((info.context or {}).get("classes") or {}).get("model.objective")
        if self.trainer.compile is False or objective is None or getattr(objective, "compilable", False):
            return self
        raise ConfigError(
            f"trainer.compile={self.trainer.compile}: objective {objective.__module__}.{objective.__qualname__} "
            "cannot be compiled (its class does not set compilable = True; vaelab's: objective=elbo, iwae, dip_vae): "
            "set trainer.compile=false"
        )

    @model_validator(mode="after")
    def manual_optimisation(self, info: ValidationInfo) -> Settings:
        """An adversarial objective (FactorVAE) trains its discriminator with Lightning's manual
        optimisation, which has no gradient clipping (Lightning refuses it when fitting starts)
        and steps no scheduler; its two backward passes each use only one network's parameters,
        which DDP must be told. `validate` passes the resolved classes in the context."""
        objective = ((info.context or {}).get("classes") or {}).get("model.objective")
        if not getattr(objective, "adversarial", False):
            return self
        problems = []
        strategy = getattr(self.trainer, "strategy", "auto")
        if isinstance(strategy, str) and strategy.startswith("ddp") and "find_unused_parameters_true" not in strategy:
            problems.append(
                f"trainer.strategy={strategy} is not supported with objective=factor_vae (each of its two backward "
                "passes leaves the other network's parameters unused); set trainer.strategy=ddp_find_unused_parameters_true"
            )
        if self.trainer.gradient_clip_val is not None:
            problems.append(
                f"trainer.gradient_clip_val={self.trainer.gradient_clip_val} is not supported with objective=factor_vae "
                "(manual optimisation cannot clip gradients); set trainer.gradient_clip_val=null"
            )
        if (scheduler := self.model.scheduler) is not None:
            target = scheduler.scheduler.target if isinstance(scheduler, Scheduler) else scheduler.target
            problems.append(
                f"model.scheduler={target} is not supported with objective=factor_vae "
                "(manual optimisation steps no scheduler); set scheduler=none"
            )
        if problems:
            raise ConfigError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def steps_per_execution(self, info: ValidationInfo) -> Settings:
        """trainer.steps_per_execution > 1: the settings it cannot run with, in one line."""
        if self.trainer.steps_per_execution == 1:
            return self
        objective = ((info.context or {}).get("classes") or {}).get("model.objective")
        if problems := several_steps_per_execution(self, objective):
            raise ConfigError("; ".join(problems))
        return self


def several_steps_per_execution(cfg: Settings, objective: Any) -> list[str]:
    """What trainer.steps_per_execution = K > 1 cannot run with (vaelab.runs.executions)."""
    trainer, k = cfg.trainer, cfg.trainer.steps_per_execution
    said = f"trainer.steps_per_execution={k}"
    problems = []
    # Lightning counts this in its own steps, hand-outs of K batches that need not divide an epoch.
    value = getattr(trainer, "val_check_interval", None)
    if isinstance(value, int) and not isinstance(value, bool):
        problems.append(
            f"trainer.val_check_interval={value}: a count of batches is not supported with {said} "
            "(Lightning would count hand-outs of several batches): give a fraction of an epoch"
        )
    # Hand-outs end at multiples of K counted over whole epochs (vaelab.data.loader): an epoch
    # that Lightning cuts short, by a count or a fraction, would move every later end off them.
    limit = getattr(trainer, "limit_train_batches", None)
    if limit is not None and not (isinstance(limit, float) and limit == 1.0):
        problems.append(
            f"trainer.limit_train_batches={limit}: part of an epoch is not supported with {said} "
            "(its hand-outs line up with whole epochs): set 1.0, or trainer.steps_per_execution=1"
        )
    every = getattr((cfg.callbacks or {}).get("step_checkpoint"), "every_n_train_steps", None)
    if isinstance(every, int) and every > 0 and every % k:
        problems.append(f"callbacks.step_checkpoint.every_n_train_steps={every} must be a multiple of {said}")
    if getattr(objective, "adversarial", False):
        problems.append(f"{said} is not supported with objective=factor_vae (it steps two optimisers itself)")
    if trainer.gradient_clip_val is not None:
        problems.append(f"{said} has no gradient clipping (manual optimisation): set trainer.gradient_clip_val=null")
    if getattr(trainer, "accumulate_grad_batches", 1) != 1:
        problems.append(f"{said} has no gradient accumulation: set trainer.accumulate_grad_batches=1")
    if cfg.model.scheduler is not None:
        problems.append(f"{said} steps no learning-rate scheduler (manual optimisation): set scheduler=none")
    return problems


def validate(
    cfg: DictConfig, schema: type[BaseModel] = Settings, source: str = "", trust: Any = None
) -> dict[str, Any]:
    """Raise ConfigError, one line, if any setting of cfg breaks the schema or its component's
    constructor signature; else return the resolved config (plain containers), so that callers
    need not resolve it again. `trust`: None for the user's own config, a config.targets.Trust
    for a checkpoint's (no class it may not name is even imported).

    A setting that merely repeats another (`model.latent_dim: ${...}` style interpolations) is
    reported at its source only, so that one bad value gives one message."""
    from vaelab.config import components, targets
    from vaelab.config.composition import missing_group

    # A group removed (~model, model=[]) named as such, before its interpolations fail to resolve.
    if missing := missing_group(cfg, schema):
        raise ConfigError(f"{source}{missing}")
    try:
        with targets.judging(trust):
            tree = OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as err:
        # A resolver's own error (a data file that is not there) is the one to report.
        cause = root_cause(err)
        if cause is err:
            raise
        raise cause from None
    said = source.removesuffix(": ")
    classes = {
        path: targets.target_of(node["_target_"], path, f"{said}: " if said else "", trust)
        for path, node in targets.nodes(tree)
    }
    copies = set(interpolated_paths(cfg))
    problems: list[str] = []
    said_at: set[str] = set()

    def add(errors: list[dict[str, Any]], at: str = "", node: Any = None) -> None:
        for e in errors:
            path = _path(node if at else tree, e["loc"])
            path = f"{at}.{path}" if at and path else at or path
            # One message a setting: a union (float | Tensor) fails once per member, first said first.
            if path and path in said_at or is_copy(path, copies):
                continue
            said_at.add(path)
            if at and e["type"] == "extra_forbidden":  # a keyword the component's class does not take
                msg = _not_taken(path, node["_target_"], sorted(components.parameters(classes[at])[0]))
            else:
                msg = _describe(e, path, tree)
            if msg not in problems:
                problems.append(msg)

    try:
        schema.model_validate(tree, context={"classes": classes})
    except ValidationError as err:
        add(err.errors())
    for path, node in targets.nodes(tree):
        if not is_copy(path, copies):
            add(components.node_errors(node, classes[path]), path, node)
    if problems:
        raise ConfigError(f"{source}{'; '.join(problems)}")
    if schema is Settings:  # settings of valid types can still describe a model no memory holds
        from vaelab.config.budget import too_big

        if message := too_big(tree, trust):
            raise ConfigError(f"{source}{message}")
    return tree


def _not_taken(path: str, target: str, takes: list[str]) -> str:
    """A setting the component's class does not take, with the nearest one and what it takes."""
    parent, _, key = path.rpartition(".")
    close = difflib.get_close_matches(key, takes, n=1)
    takes_said = f"{target} takes {', '.join(takes) or 'no settings'}"
    if close:
        return f"{path}: no such setting; did you mean {parent}.{close[0]}? ({takes_said})"
    return f"{path}: no such setting; {takes_said}"


def interpolated_paths(cfg: Any, prefix: str = "") -> list[str]:
    """Paths (`a.b`, `a.b[1]`) of the nodes whose value is an interpolation of another."""
    if isinstance(cfg, DictConfig):
        keys = [(key, f"{prefix}.{key}" if prefix else str(key)) for key in cfg.keys()]
    elif isinstance(cfg, ListConfig):
        keys = [(i, f"{prefix}[{i}]") for i in range(len(cfg))]
    else:
        return []
    found = []
    for key, path in keys:
        if OmegaConf.is_interpolation(cfg, key):
            found.append(path)
        else:
            found += interpolated_paths(cfg[key], path)
    return found


def is_copy(path: str, copies: Iterable[str]) -> bool:
    """Whether `path` is one of `copies` (interpolated paths) or lies inside one."""
    return any(path == c or path.startswith((c + ".", c + "[")) for c in copies)


def _path(tree: Any, loc: tuple) -> str:
    """The dotted setting a pydantic error location points at (union tags are not keys)."""
    parts, node = [], tree
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
            parts.append(str(part))
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
            parts[-1] += f"[{part}]"
        elif isinstance(part, str) and not isinstance(node, dict | list):
            continue  # a union member's name
        elif isinstance(node, dict) and isinstance(part, str) and "." not in part and "[" not in part:
            parts.append(part)  # a missing or extra key
    return ".".join(parts)


# pydantic's bound errors: (operator, the context key holding the bound).
BOUNDS = {
    "greater_than_equal": (">=", "ge"),
    "greater_than": (">", "gt"),
    "less_than_equal": ("<=", "le"),
    "less_than": ("<", "lt"),
}


def _describe(e: dict[str, Any], path: str, tree: Any) -> str:
    kind, ctx = e["type"], e.get("ctx", {})
    value = e.get("input")
    if not path:  # a check across settings (Settings' model validator): its message names them
        return str(ctx.get("error", e["msg"]))
    shown = f"{path}={value!r}" if isinstance(value, str) else f"{path}={value}"
    if kind == "extra_forbidden":
        parent, _, key = path.rpartition(".")
        node = _get(tree, parent)
        known = [k for k in (node or {}) if k != key]
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"; did you mean {parent + '.' if parent else ''}{close[0]}?" if close else ""
        return f"{path}: no such setting{hint}"
    if kind == "missing":
        return f"{path}: missing; it must be set"
    if kind == "union_tag_invalid":
        return f"{path}._target_={ctx.get('tag')!r}: not one of {ctx.get('expected_tags')}"
    if kind in BOUNDS:
        op, bound = BOUNDS[kind]
        return f"{shown}: must be {op} {ctx[bound]:g}"
    said = {
        "int_type": "must be a whole number",
        "int_parsing": "must be a whole number",
        "int_from_float": "must be a whole number",
        "float_type": "must be a number",
        "float_parsing": "must be a number",
        "finite_number": "must be a finite number",
        "bool_type": "must be true or false",
        "bool_parsing": "must be true or false",
        "string_type": "must be a string",
        "list_type": "must be a list",
        "literal_error": f"must be one of {ctx.get('expected')}",
        "too_short": f"must have at least {ctx.get('min_length')} entries",
        "too_long": f"must have at most {ctx.get('max_length')} entries",
        "value_error": str(ctx.get("error", e["msg"])),
    }.get(kind, e["msg"])
    return f"{shown}: {said}"


def _get(tree: Any, path: str) -> Any:
    node = tree
    for part in filter(None, path.split(".")):
        node = node.get(part) if isinstance(node, dict) else None
    return node
