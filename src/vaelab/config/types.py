"""Types with ranges for components' constructor signatures and the run-level schema.

A component states what each setting may be where it is defined, in its constructor:

    def __init__(self, beta: NonNegFloat = 1.0, sampling: Literal["mws", "mss"] = "mws"): ...

and vaelab.config.components checks a config node against that signature before anything is
built, with one-line messages (`objective.beta=-1: must be >= 0`). These are plain `typing.Annotated`
types carrying pydantic constraints: a researcher's own component may use them, pydantic's
`Field` directly, or no annotation at all (then any value is accepted).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field, Strict

# Strict: 2.5 is not silently an int, "abc" not a number, true not 1; floats must be finite.
Int = Annotated[int, Strict()]
PosInt = Annotated[int, Strict(), Field(ge=1)]
NonNegInt = Annotated[int, Strict(), Field(ge=0)]
Float = Annotated[float, Strict(), Field(allow_inf_nan=False)]
PosFloat = Annotated[float, Strict(), Field(gt=0, allow_inf_nan=False)]
NonNegFloat = Annotated[float, Strict(), Field(ge=0, allow_inf_nan=False)]
Share = Annotated[float, Strict(), Field(ge=0, le=1, allow_inf_nan=False)]
Bool = Annotated[bool, Strict()]
# A data shape: (C, H, W), (H, W) or (D,).
Shape = Annotated[list[PosInt], Field(min_length=1, max_length=3)]
Seed = Annotated[int, Strict(), Field(ge=0, le=2**32 - 1)]


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _count_or_fraction(value: Any) -> int | float:
    if _whole(value) and value >= 1 or isinstance(value, float) and 0 < value < 1:
        return value
    raise ValueError("must be a count >= 1 or a fraction in (0, 1)")


def _limit(value: Any) -> int | float:
    if _whole(value) and value >= 0 or isinstance(value, float) and 0 <= value <= 1:
        return value
    raise ValueError("must be a number of batches >= 0 or a fraction in [0, 1]")


# A count or a fraction: one check, so a bad value gets one message, not one per union member.
Size = Annotated[Any, AfterValidator(_count_or_fraction)]
Limit = Annotated[Any, AfterValidator(_limit)]
# Convolution channels per stage, at least one stage.
Channels = Annotated[list[PosInt], Field(min_length=1)]
# A share of a period that is not empty: (0, 1].
Ratio = Annotated[float, Strict(), Field(gt=0, le=1, allow_inf_nan=False)]
# Rendered image side, in pixels.
Resolution = Annotated[int, Strict(), Field(ge=8, le=1024)]
