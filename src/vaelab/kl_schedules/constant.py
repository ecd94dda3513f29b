"""No schedule: the KL weight is the objective's own at every step."""

from __future__ import annotations


class Constant:
    def __call__(self, step: int) -> float:
        return 1.0
