"""`key=value` arguments for the console scripts (vaelab-eval, vaelab-sample).

A script declares its own options with defaults; any argument with a dot in its key
(`data.data_dir=...`, `eval.num_samples=5000`) overrides the checkpoint's stored config.
"""

from __future__ import annotations

import sys
from typing import Any

import yaml

from vaelab.errors import exit_code


class UsageError(ValueError):
    pass


def parse(argv: list[str], options: dict[str, Any], usage: str) -> tuple[dict[str, Any], list[str]]:
    """(options with the given values, config overrides) from `key=value` words."""
    values, overrides = dict(options), []
    for word in argv:
        if word in ("-h", "--help"):
            print(usage)
            sys.exit(0)
        key, sep, raw = word.partition("=")
        if not sep or not key:
            raise UsageError(f"arguments are key=value, got {word!r}\n{usage}")
        if "." in key:
            overrides.append(word)
        elif key in options:
            values[key] = yaml.safe_load(raw) if raw else None
        else:
            raise UsageError(f"unknown option {key!r}; options: {', '.join(options)} (or config keys with a dot)")
    missing = [k for k, v in values.items() if v == "???"]
    if missing:
        raise UsageError(f"missing {', '.join(k + '=...' for k in missing)}\n{usage}")
    return values, overrides


def command(fn, options: dict[str, Any], usage: str, argv: list[str] | None = None) -> int:
    """Run fn(**options, overrides=[...]) from `key=value` words: the body of a console script.
    Bad usage is one line and exit code 2; anything else follows vaelab.errors.report."""
    try:
        values, overrides = parse(sys.argv[1:] if argv is None else argv, options, usage.strip())
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return exit_code(fn, **values, overrides=overrides)
