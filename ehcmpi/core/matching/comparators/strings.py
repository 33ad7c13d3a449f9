"""Generic string comparator (guideline §4.1.1 索引合并: any other field a rule names).

For the fields without a comparator of their own: a given or family name sent apart, a
postcode, a benchmark's ``extra`` fields (FEBRL's ``suburb``, ``street_number``).  Levels:
``exact``, then ``typo`` when enabled (one substitution, adjacent transposition, insertion or
deletion), then one ``jw>=T`` level per Jaro–Winkler threshold T (descending, named as written
in the rule file), then ``different``.  Values are normalised: NFKC, stripped, lower-case,
whitespace collapsed.
"""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

from ehcmpi.core.matching.comparators._params import REQUIRED, read_params, threshold
from ehcmpi.core.matching.record import MatchRecord
from ehcmpi.terminology.similarity import jaro_winkler, one_edit_apart

#: The ``MatchRecord`` attributes that hold one string.
STRING_FIELDS = frozenset(
    {"name", "given_name", "family_name", "birth_date", "gender", "address", "area_code",
     "postcode"}
)  # fmt: skip
_EXTRA = "extra."


def normalize_string(value: str | None) -> str | None:
    """NFKC, lower-case, whitespace collapsed; None when nothing is left."""
    if value is None:
        return None
    text = " ".join(unicodedata.normalize("NFKC", value).lower().split())
    return text or None


def field_getter(comparator: str, field: str) -> Callable[[MatchRecord], str | None]:
    """How to read ``field`` ("given_name", "extra.suburb", …) from a record."""
    if field.startswith(_EXTRA) and len(field) > len(_EXTRA):
        name = field[len(_EXTRA) :]
        return lambda record: record.extra_value(name)
    if field in STRING_FIELDS:
        return lambda record: getattr(record, field)
    raise ValueError(
        f"comparator {comparator!r}: param 'field' must be one of "
        f"{', '.join(sorted(STRING_FIELDS))} or 'extra.<name>', got {field!r}"
    )


class StringComparator:
    """``string``: exact, optional typo, Jaro–Winkler levels, different."""

    __slots__ = ("_get", "levels", "tf", "thresholds", "typo")

    def __init__(
        self,
        get: Callable[[MatchRecord], str | None],
        *,
        typo: bool,
        thresholds: tuple[float, ...],
        names: tuple[str, ...],
        tf: bool,
    ) -> None:
        self._get = get
        self.typo = typo
        self.thresholds = thresholds
        self.tf = tf
        self.levels: tuple[str, ...] = (
            "exact",
            *(("typo",) if typo else ()),
            *(f"jw>={name}" for name in names),
            "different",
        )

    def features(self, record: MatchRecord) -> str | None:
        return normalize_string(self._get(record))

    def compare(self, a: str, b: str) -> int:
        if a == b:
            return 0
        level = 1
        if self.typo:
            if one_edit_apart(a, b):
                return 1
            level = 2
        if self.thresholds:
            score = jaro_winkler(a, b, cutoff=self.thresholds[-1])
            for limit in self.thresholds:
                if score >= limit:
                    return level
                level += 1
        return level

    def tf_value(self, features: str) -> str | None:
        return features if self.tf else None


def string(params: Mapping[str, Any]) -> StringComparator:
    """Factory for ``string``: ``field`` (required), ``typo``, ``jaro_winkler``, ``tf``."""
    values = read_params(
        "string",
        params,
        {
            "field": (str, REQUIRED),
            "typo": (bool, False),
            "jaro_winkler": (list, []),
            "tf": (bool, False),
        },
    )
    get = field_getter("string", values["field"])
    raw = list(values["jaro_winkler"])
    thresholds = tuple(threshold("string", "jaro_winkler", t) for t in raw)
    if any(x <= y for x, y in itertools.pairwise(thresholds)):
        raise ValueError(
            f"comparator 'string': param 'jaro_winkler' must be strictly descending, got {raw!r}"
        )
    return StringComparator(
        get,
        typo=values["typo"],
        thresholds=thresholds,
        names=tuple(str(t) for t in raw),
        tf=values["tf"],
    )
