"""String similarity for record matching (guideline §4.1.1 索引合并, §4.1.2 模糊查询).

Thin wrappers over ``rapidfuzz`` (C++), so that ``ehcmpi.core`` stays free of third-party
imports and the matching engine can compare millions of pairs.

* ``jaro_winkler`` — Jaro–Winkler similarity (prefix weight 0.1, the usual record-linkage
  setting), for Latin-script names.
* ``one_typo_apart`` — one substitution or one adjacent transposition between strings of the
  same length: the typing errors that keep a document or phone number's length (optimal string
  alignment distance 1).
* ``one_edit_apart`` — the same, or one inserted or deleted character.
"""

from __future__ import annotations

from rapidfuzz.distance import OSA, JaroWinkler


def jaro_winkler(a: str, b: str, *, cutoff: float = 0.0) -> float:
    """Jaro–Winkler similarity in [0, 1]; 0.0 when it falls below ``cutoff`` (faster)."""
    return float(JaroWinkler.similarity(a, b, prefix_weight=0.1, score_cutoff=cutoff))


def one_edit_apart(a: str, b: str) -> bool:
    """True when ``a != b`` and one substitution, adjacent transposition, insertion or deletion
    turns one into the other (optimal string alignment distance 1)."""
    return a != b and OSA.distance(a, b, score_cutoff=1) == 1


def one_typo_apart(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` have the same length and differ by exactly one substituted
    character or one pair of adjacent characters transposed (1234 / 1243)."""
    return len(a) == len(b) and a != b and OSA.distance(a, b, score_cutoff=1) == 1
