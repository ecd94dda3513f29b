"""A command line Hydra cannot compose, said in vaelab's one line.

Hydra refuses a command line while composing the config, before any vaelab code runs, in
several lines of its own ("Could not override ... To append to your config use +...", the
config search path). `one_line` says each as `<the word>: <what is wrong>; <what is allowed>`,
with the nearest setting or option; `run` runs a @hydra.main function so that these errors
get that line (HYDRA_FULL_ERROR=1 keeps Hydra's own, with the traceback). `check_groups` says
which group a config lacks (model=null, ~model) before its interpolations fail to resolve.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
import typing
from collections.abc import Callable, Sequence
from typing import Any

from omegaconf import DictConfig

from vaelab.conf import CONF_DIR

_NONE_GROUP = re.compile(r"Config group override must be a string or a list\. Got NoneType")


def options(group: str) -> list[str]:
    """The options of a config group: the names of conf/<group>/*.yaml."""
    return sorted(path.stem for path in (CONF_DIR / group).glob("*.yaml"))


def no_option(group: str, how: str) -> str:
    return f"{how}; choose one with {group}=NAME: {', '.join(options(group))}"


def missing_group(cfg: DictConfig, schema: type[Any]) -> str | None:
    """The line for the first config group that `schema` (a pydantic model) requires and `cfg`
    lacks (model=[] or ~model removed it); None if it has them all."""
    for name, field in schema.model_fields.items():
        takes_none = type(None) in typing.get_args(field.annotation)
        if field.is_required() and not takes_none and (CONF_DIR / name).is_dir() and cfg.get(name) is None:
            return f"{name}: {no_option(name, f'no {name} is chosen')}"
    return None


def _key(word: str) -> str:
    return word.partition("=")[0].lstrip("+~")


def _word(overrides: Sequence[str], key: str, default: str) -> str:
    """The command-line word that sets `key`, as the user wrote it."""
    return next((w for w in overrides if _key(w) == key), default)


def setting_paths(node: Any, prefix: str = "") -> list[str]:
    """Every dotted key of a composed config (unresolved)."""
    found = []
    if isinstance(node, DictConfig):
        # Unresolved: an interpolation stays its string and a null node is None, so only real
        # sections are walked into.
        for key, child in node.items_ex(resolve=False):
            path = f"{prefix}{key}"
            found.append(path)
            if isinstance(child, DictConfig):
                found += setting_paths(child, f"{path}.")
    return found


def nearest(cfg: DictConfig | None, key: str) -> str:
    """'; did you mean <the nearest setting>?' for a dotted key the config lacks: a sibling of a
    close name, else a close name elsewhere (model.betta -> objective.beta); else its section's
    settings; '' if the config is unknown."""
    if cfg is None:
        return ""
    known = setting_paths(cfg)
    parent, _, leaf = key.rpartition(".")
    while parent and parent not in known:  # foo.bar=1: the deepest part that exists
        parent, _, leaf = parent.rpartition(".")
    siblings = [p.rpartition(".")[2] for p in known if p.rpartition(".")[0] == parent]
    if close := difflib.get_close_matches(leaf, siblings, n=1):
        return f"; did you mean {parent + '.' if parent else ''}{close[0]}?"
    by_leaf = {p.rpartition(".")[2]: p for p in reversed(known)}  # the shallowest path of each name
    # Elsewhere only a nearer name: num_workers is not num_nodes.
    if close := difflib.get_close_matches(leaf, list(by_leaf), n=1, cutoff=0.8):
        return f"; did you mean {by_leaf[close[0]]}?"
    siblings = sorted(k for k in siblings if k != "_target_")
    shown = ", ".join(siblings[:15]) + (", ..." if len(siblings) > 15 else "")
    return f"; the settings of {parent or 'the config'} are {shown}"


def one_line(
    err: BaseException,
    overrides: Sequence[str],
    config_name: str,
    compose: Callable[[Sequence[str]], DictConfig] | None = None,
) -> str | None:
    """vaelab's one line for an error Hydra raised composing `config_name` from `overrides` (the
    command line's key=value words); None for any other error. `compose(overrides)` gives a
    config for the hints (default: Hydra's compose API over conf/)."""
    from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException

    compose = compose or (lambda words: _compose(config_name, words))
    text = str(err)
    if isinstance(err, MissingConfigException) and err.missing_cfg_file and err.options:
        group, _, choice = err.missing_cfg_file.rpartition("/")
        word = _word(overrides, group, f"{group}={choice}")
        close = difflib.get_close_matches(choice, err.options, n=1)
        said = f"did you mean {close[0]}? (options: {', '.join(err.options)})" if close else ""
        return f"{word}: no such option; {said or 'choose one of ' + ', '.join(err.options)}"
    if isinstance(err, OverrideParseException):
        reason = text.splitlines()[0] if text else "cannot be read"
        return (
            f"{err.override}: not a valid key=value ({reason}); quote a value with spaces or commas, "
            "see https://hydra.cc/docs/advanced/override_grammar/basic"
        )
    if isinstance(err, ValueError) and _NONE_GROUP.search(text):
        groups = [w for w in overrides if w.partition("=")[2] == "null" and (CONF_DIR / _key(w)).is_dir()]
        if groups:
            group = _key(groups[0])
            return f"{groups[0]}: {no_option(group, f'a {group} is needed')}"
        return None
    if not isinstance(err, ConfigCompositionException):
        return None
    if m := re.match(r"Could not override '([^']+)'", text):
        key = m.group(1)
        word = _word(overrides, key, key)
        return f"{word}: no such setting{nearest(_config_without(compose, overrides, word), key)}"
    if m := re.match(r"Could not append to config\. An item is already at '([^']+)'", text):
        word = _word(overrides, m.group(1), f"+{m.group(1)}")
        return f"{word}: {m.group(1)} is already a setting; set it without +: {word.lstrip('+')}"
    if m := re.match(r"Could not delete from config\. '([^']+)' does not exist", text):
        word = _word(overrides, m.group(1), f"~{m.group(1)}")
        return f"{word}: no such setting{nearest(_config_without(compose, overrides, word), m.group(1))}"
    if m := re.match(r"Ambiguous value for argument '([^']+)'", text):
        return (
            f"{m.group(1)}: a,b is a sweep: add -m (--multirun) to run one job each, "
            "or write a list as [a,b] or a string as 'a,b'"
        )
    return None


def _compose(config_name: str, overrides: Sequence[str]) -> DictConfig:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()  # a failed @hydra.main leaves it set
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose(config_name, overrides=list(overrides))


def _config_without(compose: Callable[[Sequence[str]], DictConfig], overrides: Sequence[str], bad: str):
    """The config the command line would give without its bad word (for the hint); else the
    one its group choices alone give; None if neither composes."""
    others = [w for w in overrides if w != bad]
    choices = [w for w in others if "." not in _key(w) and "," not in w]
    for words in (others, choices):
        try:
            return compose(words)
        except Exception:  # another bad word: try with fewer
            continue
    return None


# The user's HYDRA_FULL_ERROR while `run` has set it to 1 (see there); empty outside `run`.
_user_setting: list[str | None] = []


def run(hydra_main: Callable[[], Any], config_name: str, argv: Sequence[str] | None = None) -> int:
    """Run a @hydra.main function on sys.argv (`argv`: its words, for the message); its exit
    code. What Hydra cannot compose ends it with `one_line`'s line (exit code 1) instead of
    Hydra's message; HYDRA_FULL_ERROR=1 keeps Hydra's. The task function calls `task_started()` first."""
    from vaelab.errors import report

    words = list(sys.argv[1:] if argv is None else argv)
    user = os.environ.get("HYDRA_FULL_ERROR")
    if user != "1":
        # Hydra prints what it cannot compose and exits, unless HYDRA_FULL_ERROR=1: then it raises,
        # and only so can it be said here. `task_started` gives the run (and the processes it
        # starts) the user's setting back, so that the run's own errors are reported as before.
        _user_setting.append(user)
        os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        hydra_main()
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else int(done.code is not None)
    except Exception as err:
        if user == "1":
            raise
        task_started()
        overrides = [w for w in words if "=" in w and not w.startswith("-")]
        if (line := one_line(err, overrides, config_name)) is not None:
            print(f"error: {line}", file=sys.stderr)
            return 1
        if (code := report(err)) is not None:  # a resolver's user error while Hydra set up the run
            return code
        raise
    finally:
        task_started()
    return 0


def task_started() -> None:
    """Give the environment the user's HYDRA_FULL_ERROR back (see `run`); a no-op outside `run`."""
    if _user_setting:
        user = _user_setting.pop()
        if user is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = user
