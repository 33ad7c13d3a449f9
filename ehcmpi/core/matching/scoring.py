"""Fellegi–Sunter scoring: per-field comparison vector → match weight → decision.

Each comparison contributes ``log2(m/u)`` of the level its comparator returns; a missing
value contributes nothing (neither helps nor hurts).  For a level marked ``tf`` the u is the
frequency of the agreeing value, so two records agreeing on 王伟 earn less than two agreeing
on a rare name.  The weight starts from the prior log odds; the probability is
``1 / (1 + 2**-weight)``.  ``explain`` returns the whole vector for storing with the
decision and showing it ("why were these linked?", guideline §4.1.1 索引合并).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ehcmpi.core.matching.record import MatchRecord, with_document_facts
from ehcmpi.core.matching.rules import RuleSet

#: Features of one record: one entry per comparison of the rule set, None when missing.
Features = tuple[Any, ...]


class MatchOutcome(StrEnum):
    MATCH = "MATCH"
    POSSIBLE_MATCH = "POSSIBLE_MATCH"
    NO_MATCH = "NO_MATCH"


@dataclass(frozen=True, slots=True)
class FieldResult:
    """One field's part of a decision: the level reached (None: missing) and its weight."""

    name: str
    level: str | None
    weight: float


@dataclass(frozen=True, slots=True)
class MatchResult:
    weight: float
    outcome: MatchOutcome
    fields: tuple[FieldResult, ...]
    rules_version: str

    @property
    def probability(self) -> float:
        return probability(self.weight)

    def reason(self) -> str:
        """One line a data-quality officer can read: the fields that decided, strongest first."""
        decisive = sorted(
            (f for f in self.fields if f.level is not None), key=lambda f: -abs(f.weight)
        )
        parts = [f"{f.name}={f.level} ({f.weight:+.1f})" for f in decisive]
        return f"{self.outcome} weight {self.weight:.1f}: " + ", ".join(parts)


def probability(weight: float) -> float:
    if weight < -60:
        return 0.0
    return 1.0 / (1.0 + math.pow(2.0, -weight))


class Scorer:
    """Scores pairs under one rule set; build once, call millions of times."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self._comparators = [c.comparator for c in rules.comparisons]
        self._weights = [[level.weight for level in c.levels] for c in rules.comparisons]
        self._tf: list[tuple[bool, ...]] = [
            tuple(lv.tf for lv in c.levels) for c in rules.comparisons
        ]
        self._m = [[level.m for level in c.levels] for c in rules.comparisons]
        self._veto = [tuple(lv.veto for lv in c.levels) for c in rules.comparisons]
        #: a vetoed pair scores at most just under the review band: NO_MATCH
        self._veto_cap = math.nextafter(rules.possible_threshold, -math.inf)
        tables = rules.term_frequencies
        self._tf_tables = [tables.get(c.name, {}) for c in rules.comparisons]
        self._tf_floor = [min(t.values()) if t else 0.0 for t in self._tf_tables]
        self._indexed = list(enumerate(self._comparators))

    def features(self, record: MatchRecord) -> Features:
        record = with_document_facts(record)
        return tuple(comparator.features(record) for comparator in self._comparators)

    def levels(self, a: Features, b: Features) -> tuple[int, ...]:
        """The comparison vector: a level index per comparison, -1 when missing."""
        out = []
        for i, comparator in self._indexed:
            fa, fb = a[i], b[i]
            out.append(-1 if fa is None or fb is None else comparator.compare(fa, fb))
        return tuple(out)

    def weight(self, a: Features, b: Features) -> float:
        total = self.rules.prior_weight
        vetoed = False
        for i, comparator in self._indexed:
            fa, fb = a[i], b[i]
            if fa is None or fb is None:
                continue
            level = comparator.compare(fa, fb)
            if level >= 0:
                total += self._level_weight(i, level, fa, fb)
                vetoed = vetoed or self._veto[i][level]
        return min(total, self._veto_cap) if vetoed else total

    def _level_weight(self, i: int, level: int, a: Any, b: Any) -> float:
        if not self._tf[i][level]:
            return self._weights[i][level]
        table = self._tf_tables[i]
        if not table:
            return self._weights[i][level]
        comparator = self._comparators[i]
        values = [v for v in (comparator.tf_value(a), comparator.tf_value(b)) if v is not None]
        if not values:
            return self._weights[i][level]
        # The more frequent of the two values decides (for the exact level they are one
        # value): the weight must not depend on which record came first.
        frequency = max(table.get(v, self._tf_floor[i]) for v in values)
        return math.log2(self._m[i][level] / frequency)

    def outcome(self, weight: float) -> MatchOutcome:
        if weight >= self.rules.match_threshold:
            return MatchOutcome.MATCH
        if weight >= self.rules.possible_threshold:
            return MatchOutcome.POSSIBLE_MATCH
        return MatchOutcome.NO_MATCH

    def explain(self, a: Features, b: Features) -> MatchResult:
        fields = []
        total = self.rules.prior_weight
        vetoed = False
        for (i, _), comparison, level in zip(
            self._indexed, self.rules.comparisons, self.levels(a, b), strict=True
        ):
            if level < 0:
                fields.append(FieldResult(comparison.name, None, 0.0))
                continue
            weight = self._level_weight(i, level, a[i], b[i])
            total += weight
            vetoed = vetoed or self._veto[i][level]
            fields.append(FieldResult(comparison.name, comparison.levels[level].name, weight))
        if vetoed:
            total = min(total, self._veto_cap)
        return MatchResult(total, self.outcome(total), tuple(fields), self.rules.version)

    def compare_records(self, a: MatchRecord, b: MatchRecord) -> MatchResult:
        return self.explain(self.features(a), self.features(b))


def features_of(scorer: Scorer, records: Sequence[MatchRecord]) -> list[Features]:
    return [scorer.features(record) for record in records]
