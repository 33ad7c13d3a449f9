"""Training a rule set from stored records (``ehcmpi match train``), as Splink and OpenEMPI do.

- **u** (P(level | different people)) from random pairs: two records drawn at random are
  almost never the same person, so the level frequencies among them estimate u.
- **m** (P(level | same person)) and the prior by expectation–maximisation over the candidate
  pairs that blocking proposes, with u held fixed.  Pairs are grouped by comparison vector,
  so each iteration costs the number of distinct vectors, not the number of pairs.
- **term frequencies** of the values of ``tf`` levels (names): the frequent ones are stored.

Blocking, comparators and thresholds come from a template rule set (the shipped default or the
site's own file); training replaces the probabilities only.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ehcmpi.core.matching.batch import candidate_pairs
from ehcmpi.core.matching.record import MatchRecord
from ehcmpi.core.matching.rules import Comparison, Level, RuleSet
from ehcmpi.core.matching.scoring import Features, Scorer

#: Probabilities are kept away from 0 and 1 so that every weight stays finite.
FLOOR = 1e-7
TF_TOP = 2000


@dataclass(frozen=True, slots=True)
class TrainingReport:
    records: int
    random_pairs: int
    candidate_pairs: int
    patterns: int
    iterations: int
    prior: float


def train(
    records: Sequence[MatchRecord],
    template: RuleSet,
    *,
    version: str,
    random_pairs: int = 1_000_000,
    iterations: int = 100,
    seed: int = 0,
    split: int | None = None,
) -> tuple[RuleSet, TrainingReport]:
    """A rule set with m, u, prior and term frequencies estimated from ``records``.

    The prior is the probability that two records drawn at random are one person — the
    same population u is estimated on — not the share of matches among candidate pairs:
    blocking raises that share, and a prior taken from it would make every candidate pair
    look like a match before any field is compared.  ``split`` as in ``candidate_pairs``
    (linkage of ``records[:split]`` with ``records[split:]``).
    """
    if len(records) < 2:
        raise ValueError("training needs at least two records")
    scorer = Scorer(template)
    features = [scorer.features(record) for record in records]
    u, sampled = _estimate_u(scorer, features, random_pairs, random.Random(seed))
    pairs, _ = candidate_pairs(records, template, split)
    n = len(records)
    patterns: Counter[tuple[int, ...]] = Counter(
        scorer.levels(features[code // n], features[code % n]) for code in pairs
    )
    m, candidate_prior, rounds = _expectation_maximisation(template, patterns, u, iterations)
    all_pairs = n * (n - 1) // 2 if split is None else split * (n - split)
    prior = candidate_prior * len(pairs) / all_pairs
    comparisons = tuple(
        replace(
            c,
            levels=tuple(
                Level(level.name, _clamp(m[i][k]), _clamp(u[i][k]), level.tf)
                for k, level in enumerate(c.levels)
            ),
        )
        for i, c in enumerate(template.comparisons)
    )
    rules = replace(
        template,
        version=version,
        prior=_clamp(prior),
        comparisons=comparisons,
        term_frequencies=_term_frequencies(scorer, template.comparisons, features),
    )
    report = TrainingReport(n, sampled, len(pairs), len(patterns), rounds, prior)
    return rules, report


def _clamp(p: float) -> float:
    return min(max(p, FLOOR), 1 - FLOOR)


def _estimate_u(
    scorer: Scorer, features: list[Features], wanted: int, rng: random.Random
) -> tuple[list[list[float]], int]:
    n = len(features)
    sizes = [len(c.levels) for c in scorer.rules.comparisons]
    counts = [[0] * size for size in sizes]
    sampled = min(wanted, n * (n - 1) // 2)
    for _ in range(sampled):
        i, j = rng.randrange(n), rng.randrange(n)
        if i == j:
            continue
        for c, level in enumerate(scorer.levels(features[i], features[j])):
            if level >= 0:
                counts[c][level] += 1
    # Laplace smoothing: a level never seen among random pairs is rare, not impossible.
    return [
        [(count + 0.5) / (sum(row) + 0.5 * len(row)) for count in row] for row in counts
    ], sampled


def _initial_m(size: int) -> list[float]:
    """Agreement is likely among matches: the best level gets most of the mass."""
    if size == 1:
        return [1.0]
    rest = 0.1 / (size - 1)
    return [0.9] + [rest] * (size - 1)


def _expectation_maximisation(
    rules: RuleSet,
    patterns: Counter[tuple[int, ...]],
    u: list[list[float]],
    iterations: int,
) -> tuple[list[list[float]], float, int]:
    m = [_initial_m(len(c.levels)) for c in rules.comparisons]
    prior = 0.1
    rounds = 0
    for rounds in range(1, iterations + 1):  # noqa: B007 - the count is reported
        m_counts = [[0.0] * len(row) for row in m]
        matched = total = 0.0
        for vector, count in patterns.items():
            log_m = math.log(prior)
            log_u = math.log(1 - prior)
            for c, level in enumerate(vector):
                if level >= 0:
                    log_m += math.log(max(m[c][level], FLOOR))
                    log_u += math.log(u[c][level])
            posterior = 1.0 / (1.0 + math.exp(min(log_u - log_m, 700.0)))
            matched += posterior * count
            total += count
            for c, level in enumerate(vector):
                if level >= 0:
                    m_counts[c][level] += posterior * count
        new_m = [[(x + 1e-3) / (sum(row) + 1e-3 * len(row)) for x in row] for row in m_counts]
        new_prior = _clamp(matched / total) if total else prior
        change = max(
            abs(a - b) for r1, r2 in zip(m, new_m, strict=True) for a, b in zip(r1, r2, strict=True)
        )
        m, prior = new_m, new_prior
        if change < 1e-6:
            break
    return m, prior, rounds


def _term_frequencies(
    scorer: Scorer, comparisons: Sequence[Comparison], features: list[Features]
) -> dict[str, dict[str, float]]:
    tables: dict[str, dict[str, float]] = {}
    n = len(features)
    for c, comparison in enumerate(comparisons):
        if not any(level.tf for level in comparison.levels):
            continue
        comparator = comparison.comparator
        counts: Counter[str] = Counter()
        for row in features:
            if row[c] is not None and (value := comparator.tf_value(row[c])) is not None:
                counts[value] += 1
        tables[comparison.name] = {
            value: count / n for value, count in counts.most_common(TF_TOP) if count > 1
        }
    return tables
