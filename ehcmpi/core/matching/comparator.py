"""The comparator protocol: one small, pure matcher per field (HAPI FHIR MDM style).

A comparator declares its agreement levels, best first, the last being "disagrees".  It
turns a record into features once (``features``; None when the field is missing, so that a
missing value neither helps nor hurts) and compares two feature values in a few microseconds
(``compare`` returns the index of a level).  The rule file gives each level its m and u
probabilities (Fellegi–Sunter); ``tf_value`` names the value whose frequency adjusts u for
levels marked ``tf`` (frequent names such as 王伟 weigh less than rare ones).

``compare`` may return -1 when two present values cannot be compared (two records whose
documents have no type in common): -1 counts as missing, like a None feature.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from ehcmpi.core.matching.record import MatchRecord


class Comparator(Protocol):
    #: Level names, best first; the last one means "the values disagree".
    levels: tuple[str, ...]

    def features(self, record: MatchRecord) -> Any | None:
        """Precomputed, hashable features of one record's field, or None when missing."""
        ...

    def compare(self, a: Any, b: Any) -> int:
        """Index into ``levels`` for two non-missing feature values, or -1 when they cannot
        be compared (e.g. no document type in common); -1 counts as missing."""
        ...

    def tf_value(self, features: Any) -> str | None:
        """The value whose term frequency adjusts the weight of ``tf`` levels, if any."""
        ...


#: Builds a comparator from the ``params`` table of its rule-file entry.
ComparatorFactory = Callable[[Mapping[str, Any]], Comparator]
