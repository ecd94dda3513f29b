"""The search space of an Optuna study, written in Hydra's sweep syntax (`hydra.sweeper.params`
and sweep overrides on the command line), as Optuna distributions.

    choice(a, b, c) or a,b,c          CategoricalDistribution([a, b, c])
    interval(lo, hi)                  FloatDistribution(lo, hi)            (uniform on [lo, hi])
    tag(log, interval(lo, hi))        FloatDistribution(lo, hi, log=True)  (uniform in log)
    tag(int, interval(lo, hi))        IntDistribution(lo, hi)              (tag(log, int, ...): log)
    range(start, stop[, step])        IntDistribution(start, last, step), or FloatDistribution with
                                      a float step: the values of Python's range, `stop` excluded,
                                      as in a grid sweep (shuffle(range(...)): a categorical)

Any other override is fixed: every trial gets it as written.
"""

from __future__ import annotations

import math
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep, Transformer
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from vaelab.errors import ConfigError

TAGS = {"log", "int"}


def parse(params: dict[str, Any] | None, arguments: list[str]) -> tuple[dict[str, BaseDistribution], list[str]]:
    """(search space {name: distribution}, fixed overrides) from `hydra.sweeper.params` and the
    command line's overrides; a sweep on the command line replaces the same key's in params."""
    lines = [f"{key}={value}" for key, value in (params or {}).items()]
    space: dict[str, BaseDistribution] = {}
    fixed: dict[str, str] = {}
    for source, batch in (("hydra.sweeper.params", lines), ("the command line", arguments)):
        try:
            overrides = OverridesParser.create().parse_overrides(batch)
        except Exception as err:  # Hydra's OverrideParseException, message on its first line
            raise ConfigError(f"{source}: {str(err).splitlines()[0]}") from None
        for override in overrides:
            key = override.get_key_element()
            space.pop(key, None)
            fixed.pop(key, None)
            if override.is_sweep_override():
                space[key] = distribution(override)
            else:
                fixed[key] = override.input_line
    return space, list(fixed.values())


def distribution(override: Override) -> BaseDistribution:
    """The Optuna distribution of one sweep override (see the module docstring)."""
    value, line = override.value(), override.input_line
    unknown = sorted(set(getattr(value, "tags", ())) - TAGS)
    if unknown:
        raise ConfigError(f"{line}: unknown tag {unknown[0]!r}; the tags are log and int")
    if isinstance(value, ChoiceSweep) or (isinstance(value, RangeSweep) and value.shuffle):
        choices = list(override.sweep_iterator(transformer=Transformer.encode))
        if not choices:
            raise ConfigError(f"{line}: no values to choose from")
        return CategoricalDistribution(choices)
    if isinstance(value, RangeSweep):
        return _range(value, line)
    if isinstance(value, IntervalSweep):
        low, high, log = value.start, value.end, "log" in value.tags
        if not low < high or (log and low <= 0):
            allowed = "0 < lo < hi (log scale)" if log else "lo < hi"
            raise ConfigError(f"{line}: an interval(lo, hi) needs {allowed}")
        if "int" in value.tags:
            if low != int(low) or high != int(high):
                raise ConfigError(f"{line}: tag(int, interval(lo, hi)) needs whole numbers lo and hi")
            return IntDistribution(int(low), int(high), log=log)
        return FloatDistribution(float(low), float(high), log=log)
    raise ConfigError(
        f"{line}: not a search space; use choice(...), interval(...), tag(log, interval(...)), range(...)"
    )


def _range(value: RangeSweep, line: str) -> BaseDistribution:
    """range(start, stop, step): the values start, start + step, ... below stop (Python's range)."""
    start, stop, step = value.start, value.stop, value.step
    if step is None or step <= 0:
        raise ConfigError(f"{line}: range(start, stop, step) needs a step > 0")
    count = math.ceil((stop - start) / step - 1e-9)  # values below stop; 1e-9: float steps like 0.1
    if count < 1:
        raise ConfigError(f"{line}: an empty range; it needs start < stop")
    if "log" in value.tags:
        raise ConfigError(f"{line}: tag(log, ...) applies to interval(...), not range(...)")
    if all(isinstance(v, int) for v in (start, stop, step)):
        return IntDistribution(start, start + (count - 1) * step, step=step)
    return FloatDistribution(float(start), float(start + (count - 1) * step), step=float(step))
