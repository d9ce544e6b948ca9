"""The way of one decision: consent -> mask -> predict -> explain -> review policy -> audit.

``recommend`` ranks candidates with a ranker; ``decide`` makes one automated decision with a
classifier. Both check consent first, mask features whose purpose is not granted, explain exactly
what is shown (the served top-k items, or the decision), append one audit record, and emit a span
with ids and timings only.
"""

from __future__ import annotations

from .decide import Deciding
from .recommend import Recommending

__all__ = ["Engine"]


class Engine(Recommending, Deciding):
    """The parts one decision touches, with ``recommend`` and ``decide``."""
