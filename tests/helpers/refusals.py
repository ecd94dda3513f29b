"""The one line a bad config is refused with, before any work (vaelab.config.schema.validate)."""

from __future__ import annotations

import pytest

from vaelab.config import schema
from vaelab.errors import ConfigError


def refusal(cfg) -> str:
    """The ConfigError message `cfg` is refused with; fails unless there is one, on one line."""
    with pytest.raises(ConfigError) as raised:
        schema.validate(cfg)
    message = str(raised.value)
    assert "\n" not in message, message
    return message
