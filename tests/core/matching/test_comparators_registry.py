"""The comparator registry and the protocol every comparator keeps."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest

from ehcmpi.core.matching import comparators
from ehcmpi.core.matching.comparators import COMPARATORS
from ehcmpi.core.matching.record import MatchDocument, MatchRecord
from tests.core.test_layering import _allowed, _imports

MINIMAL_PARAMS: dict[str, dict[str, Any]] = {"string": {"field": "given_name"}}

EXPECTED_LEVELS = {
    "document": ("exact", "legacy", "typo", "different"),
    "chinese_name": ("exact", "pinyin", "near_pinyin", "one_char", "different"),
    "latin_name": ("exact", "swapped", "close", "similar", "different"),
    "string": ("exact", "different"),
    "birth_date": ("exact", "swapped", "one_digit", "year", "different"),
    "gender": ("exact", "different"),
    "phone": ("exact", "typo", "different"),
    "address": ("exact", "similar", "area", "different"),
    "household": ("both", "phone", "address", "area", "different"),
}

FULL = MatchRecord(
    key="a",
    name="张伟",
    given_name="伟",
    family_name="张",
    birth_date="1990-03-07",
    gender="1",
    documents=(MatchDocument("01", "11010519491231002X"),),
    phones=("13800138000",),
    address="北京市朝阳区建国路88号",
    area_code="110105",
    postcode="100022",
)
EMPTY = MatchRecord(key="b")


def test_every_comparator_is_registered() -> None:
    assert set(COMPARATORS) == set(EXPECTED_LEVELS)


@pytest.mark.parametrize("name", sorted(EXPECTED_LEVELS))
def test_a_record_compares_exactly_with_itself(name: str) -> None:
    comparator = COMPARATORS[name](MINIMAL_PARAMS.get(name, {}))
    assert comparator.levels == EXPECTED_LEVELS[name]
    features = comparator.features(FULL)
    assert features is not None
    hash(features)  # features are hashable, so the engine can cache and group them
    assert comparator.compare(features, features) == 0  # the best level: exact (or both)
    assert comparator.features(EMPTY) is None


@pytest.mark.parametrize("name", sorted(EXPECTED_LEVELS))
def test_unknown_params_are_rejected_by_name(name: str) -> None:
    params = {**MINIMAL_PARAMS.get(name, {}), "bogus": 1}
    with pytest.raises(ValueError, match=f"comparator '{name}': unknown param 'bogus'"):
        COMPARATORS[name](params)


@pytest.mark.parametrize("name", sorted(EXPECTED_LEVELS))
def test_params_must_be_a_table(name: str) -> None:
    with pytest.raises(ValueError, match="params must be a table"):
        COMPARATORS[name](["close"])  # type: ignore[arg-type]


def test_the_comparators_import_only_the_standard_library_and_the_ports() -> None:
    # tests/core/test_layering.py walks ehcmpi/core/*.py only; this subpackage too.
    package = pathlib.Path(comparators.__path__[0])
    files = sorted(package.glob("*.py"))
    assert len(files) >= 7
    offending = [
        f"{path.name}:{line}: {module}"
        for path in files
        for line, module in _imports(path)
        if not _allowed(module)
    ]
    assert offending == []
