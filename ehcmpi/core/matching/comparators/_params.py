"""Validation of a comparator's ``params`` table from the rule file (HAPI FHIR MDM: rules are
data, validated when loaded).  Every problem is a ``ValueError`` naming the comparator and
the param, so that the rule loader can report it as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Marks a param without a default.
REQUIRED: Any = object()

_TYPE_NAMES = {bool: "a boolean", str: "a string", float: "a number", list: "a list"}


def read_params(
    comparator: str, params: Mapping[str, Any], spec: Mapping[str, tuple[type, Any]]
) -> dict[str, Any]:
    """The params with defaults filled in; ``spec`` maps each name to (type, default).

    A ``float`` param also takes an integer; ``bool`` is never taken for a number.
    """
    if not isinstance(params, Mapping):
        raise ValueError(f"comparator {comparator!r}: params must be a table, got {params!r}")
    unknown = sorted(str(name) for name in params if name not in spec)
    if unknown:
        known = ", ".join(sorted(spec)) or "none"
        raise ValueError(
            f"comparator {comparator!r}: unknown param {', '.join(map(repr, unknown))}"
            f" (known params: {known})"
        )
    values: dict[str, Any] = {}
    for name, (kind, default) in spec.items():
        if name not in params:
            if default is REQUIRED:
                raise ValueError(f"comparator {comparator!r}: param {name!r} is required")
            values[name] = default
            continue
        values[name] = _typed(comparator, name, params[name], kind)
    return values


def _typed(comparator: str, name: str, value: Any, kind: type) -> Any:
    ok = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not ok:
        raise ValueError(
            f"comparator {comparator!r}: param {name!r} must be {_TYPE_NAMES[kind]}, got {value!r}"
        )
    return value


def threshold(comparator: str, name: str, value: Any) -> float:
    """A similarity threshold: a number in (0, 1]."""
    number = _typed(comparator, name, value, float)
    if not 0.0 < number <= 1.0:
        raise ValueError(
            f"comparator {comparator!r}: param {name!r} must be in (0, 1], got {value!r}"
        )
    return float(number)
