"""Each component's settings checked against its own constructor's signature.

A component (vaelab's or a researcher's) says what its settings may be where it is defined:

    class ELBO(Objective):
        def __init__(self, beta: NonNegFloat = 1.0, free_bits: NonNegFloat = 0.0): ...

`node_errors(node, cls)` checks one `_target_` node of a resolved config (vaelab.config.schema.
validate walks them all): it builds, once per class, a pydantic model from the signature
(parameters, annotations with their ranges, defaults) and checks the node's settings with it.
Unannotated parameters take any value; a value that is a component itself (a nested `_target_`
node) is checked as its own node; a setting the class does not take is named with what it takes.
The messages are the run-level schema's: `objective.beta=-1: must be >= 0`.
"""

from __future__ import annotations

import functools
import inspect
import os
import typing
from pathlib import PurePath
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from vaelab.config.targets import extras

#: Instantiation keys Hydra reads itself.
HYDRA_KEYS = ("_target_", "_partial_", "_args_", "_recursive_", "_convert_")


def parameters(cls: Any) -> tuple[dict[str, inspect.Parameter], bool]:
    """The keyword parameters a class (or function) takes, along its base classes' constructors
    while each passes on **kwargs (a data module's settings live partly in its base class), and
    whether it takes any keyword at all (the last constructor of that chain has **kwargs)."""
    found: dict[str, inspect.Parameter] = {}
    for depth, fn in enumerate(_constructors(cls)):
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            return found, True
        for name, p in params.items():
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and name != "self":
                # A base class's required argument may be one the subclass passes itself.
                inherited = depth > 0 and p.default is p.empty
                found.setdefault(name, p.replace(default=None) if inherited else p)
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            return found, False
    return found, True


def _constructors(cls: Any) -> list[Any]:
    """The constructors whose parameters a class takes, most derived first."""
    return [c.__init__ for c in inspect.getmro(cls) if "__init__" in vars(c)] if inspect.isclass(cls) else [cls]


def _hints(cls: Any) -> dict[str, Any]:
    """Annotations of the constructors in `parameters`' chain, resolved (strings under
    `from __future__ import annotations`), with their Annotated ranges; {} where they do not resolve."""
    hints: dict[str, Any] = {}
    for fn in reversed(_constructors(cls)):
        try:
            hints.update(typing.get_type_hints(fn, include_extras=True))
        except Exception:  # a name only imported for type checking: that constructor's hints are unknown
            continue
    return hints


def _as_config_type(hint: Any) -> Any:
    """The type a config value (YAML: lists, not tuples; strings, not paths) must have for `hint`."""
    origin = get_origin(hint)
    if origin is Annotated:
        inner, *meta = get_args(hint)
        return Annotated[(_as_config_type(inner), *meta)]
    if origin is Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        return Union[tuple(_as_config_type(a) for a in get_args(hint))]  # noqa: UP007
    if origin is tuple:
        args = get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return list[_as_config_type(args[0])]
        if not args:
            return list
        items = list[Union[tuple(_as_config_type(a) for a in args)]]  # noqa: UP007
        return Annotated[items, Field(min_length=len(args), max_length=len(args))]
    if inspect.isclass(hint) and issubclass(hint, (PurePath, os.PathLike)):
        return str
    return hint


@functools.cache
def model_of(cls: Any) -> type[BaseModel]:
    """A pydantic model of `cls`'s settings. A parameter whose
    annotation pydantic cannot check (a Protocol, a module) accepts anything: it is a component
    given as a nested node, or a value the class checks itself."""
    hints = _hints(cls)
    fields: dict[str, Any] = {}
    params, takes_any = parameters(cls)
    # A setting the class does not take: "no such setting; did you mean ..." (unless it takes **kwargs).
    config = ConfigDict(strict=True, arbitrary_types_allowed=True, extra="allow" if takes_any else "forbid")
    probe = ConfigDict(strict=True, arbitrary_types_allowed=True)
    for name, p in params.items():
        default = ... if p.default is p.empty else p.default
        hint = _as_config_type(hints.get(name, Any))
        try:
            create_model("probe", __config__=probe, x=(hint, default))
        except Exception:
            hint = Any
        fields[name] = (hint, default)
    return create_model(f"{getattr(cls, '__name__', 'component')}Settings", __config__=config, **fields)


def _is_component(value: Any) -> bool:
    if isinstance(value, dict):
        return "_target_" in value
    return isinstance(value, list) and bool(value) and all(_is_component(v) for v in value)


def node_errors(node: dict[str, Any], cls: Any) -> list[dict[str, Any]]:
    """pydantic's errors for one node's own settings. Nested components are checked as nodes of
    their own, and a partial (`_partial_: true`) leaves required settings to its caller."""
    model = model_of(cls)
    skip = (*HYDRA_KEYS, *extras(node))  # vaelab's own settings on the node: the schema checks them
    given = {k: v for k, v in node.items() if k not in skip and not _is_component(v)}
    try:
        model.model_validate(given)
    except ValidationError as err:
        partial = node.get("_partial_") is True
        return [e for e in err.errors() if not (e["type"] == "missing" and (partial or e["loc"][0] in node))]
    return []
