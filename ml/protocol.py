"""The two evaluation protocols (light: no numpy/sklearn, so ml.options can import it)."""

from __future__ import annotations

from enum import StrEnum


class Protocol(StrEnum):
    """How a model is evaluated.

    ``replication``: the study's splits and features, leaks included, to reproduce its
    figures; ``honest``: grouped CV by artist, no feature that leaks the target.
    """

    REPLICATION = "replication"
    HONEST = "honest"
