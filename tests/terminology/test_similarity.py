"""String similarity wrappers (ehcmpi.terminology.similarity)."""

from __future__ import annotations

import pytest

from ehcmpi.terminology.similarity import jaro_winkler, one_edit_apart, one_typo_apart


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("martha", "marhta", 0.9611),
        ("dwayne", "duane", 0.84),
        ("dixon", "dicksonx", 0.8133),
        ("smith", "smith", 1.0),
        ("abc", "xyz", 0.0),
    ],
)
def test_jaro_winkler_textbook_values(a: str, b: str, expected: float) -> None:
    assert jaro_winkler(a, b) == pytest.approx(expected, abs=1e-4)


def test_jaro_winkler_cutoff() -> None:
    assert jaro_winkler("dwayne", "duane", cutoff=0.9) == 0.0
    assert jaro_winkler("martha", "marhta", cutoff=0.9) == pytest.approx(0.9611, abs=1e-4)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("110105199003070016", "110105199003070017", True),  # substitution
        ("110105199003070016", "110105199003070061", True),  # adjacent transposition
        ("13800138000", "13800183000", True),
        ("110105199003070016", "110105199003070016", False),  # equal
        ("110105199003070016", "110105199003071017", False),  # two substitutions
        ("12345", "13245", True),
        ("12345", "13254", False),  # two transpositions
        ("12345", "1234", False),  # deletion changes the length
        ("12345", "15342", False),  # non-adjacent swap
    ],
)
def test_one_typo_apart(a: str, b: str, expected: bool) -> None:
    assert one_typo_apart(a, b) is expected
    assert one_typo_apart(b, a) is expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("jonathan", "jonathon", True),
        ("jonathan", "jonahtan", True),
        ("jonathan", "jonathn", True),
        ("jonathan", "jonathann", True),
        ("jonathan", "jonathan", False),
        ("jonathan", "jnathon", False),
        ("", "a", True),
    ],
)
def test_one_edit_apart(a: str, b: str, expected: bool) -> None:
    assert one_edit_apart(a, b) is expected
    assert one_edit_apart(b, a) is expected
