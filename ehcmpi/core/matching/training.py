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
    sampled, random_patterns = _random_patterns(scorer, features, random_pairs, random.Random(seed))
    n = len(records)
    sessions = []
    union: dict[int, list[bool]] = {}
    for rule in template.blocking:
        pairs, _ = candidate_pairs(records, replace(template, blocking=(rule,)), split)
        active = [not (c.fields & rule.fields) for c in template.comparisons]
        sessions.append((_patterns(scorer, features, pairs, n), active))
        for code in pairs:
            # A comparison is biased for a pair only if every rule that proposed the pair
            # blocks on its fields: a pair found by its phone would be here whatever its name.
            seen = union.get(code)
            union[code] = (
                active if seen is None else [a or b for a, b in zip(seen, active, strict=True)]
            )
    every = [True] * len(template.comparisons)
    patterns = _masked_patterns(scorer, features, union, n)
    all_pairs = n * (n - 1) // 2 if split is None else split * (n - split)
    u = _u_from(template, random_patterns, {})
    rounds = 0
    for second in (False, True):
        # One EM session per blocking rule, as Splink does: a rule's pairs agree on its
        # blocking fields by construction, so those comparisons sit out its session and
        # take their m from the sessions of the other rules.
        m, used = _session_m(template, sessions, patterns, u, iterations)
        rounds = max(rounds, used)
        # The prior with m held: the share of matches among all candidate pairs.
        _, candidate_prior, used = _expectation_maximisation(
            template, patterns, u, iterations, every, m_start=m, fit_m=False
        )
        rounds = max(rounds, used)
        prior = _clamp(candidate_prior * len(union) / all_pairs)
        if not second:
            # Random pairs include a few true duplicates, which inflate u of agreeing
            # levels (two random records "sharing" an ID number are one person): u is
            # estimated again with each random pattern weighted by how likely it is a
            # non-match.
            non_match = {v: 1.0 - _posterior(v, m, u, prior) for v in random_patterns}
            u = _u_from(template, random_patterns, non_match)
    comparisons = tuple(
        replace(
            c,
            levels=tuple(
                Level(level.name, _clamp(m[i][k]), _clamp(u[i][k]), level.tf, level.veto)
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
    report = TrainingReport(n, sampled, len(union), len(patterns), rounds, prior)
    return rules, report


def _clamp(p: float) -> float:
    return min(max(p, FLOOR), 1 - FLOOR)


def _random_patterns(
    scorer: Scorer, features: list[Features], wanted: int, rng: random.Random
) -> tuple[int, Counter[tuple[int, ...]]]:
    """Comparison vectors of ``wanted`` random pairs, counted."""
    n = len(features)
    sampled = min(wanted, n * (n - 1) // 2)
    patterns: Counter[tuple[int, ...]] = Counter()
    for _ in range(sampled):
        i, j = rng.randrange(n), rng.randrange(n)
        if i != j:
            patterns[scorer.levels(features[i], features[j])] += 1
    return sampled, patterns


def _u_from(
    rules: RuleSet,
    patterns: Counter[tuple[int, ...]],
    weights: dict[tuple[int, ...], float],
) -> list[list[float]]:
    """u from random-pair patterns, each counted with its weight (default 1)."""
    counts = [[0.0] * len(c.levels) for c in rules.comparisons]
    for vector, count in patterns.items():
        w = weights.get(vector, 1.0) * count
        for c, level in enumerate(vector):
            if level >= 0:
                counts[c][level] += w
    # Laplace smoothing: a level never seen among random pairs is rare, not impossible.
    return [[(x + 0.5) / (sum(row) + 0.5 * len(row)) for x in row] for row in counts]


def _posterior(
    vector: tuple[int, ...], m: list[list[float]], u: list[list[float]], prior: float
) -> float:
    log_odds = math.log(prior / (1 - prior))
    for c, level in enumerate(vector):
        if level >= 0:
            log_odds += math.log(max(m[c][level], FLOOR) / u[c][level])
    return 1.0 / (1.0 + math.exp(min(-log_odds, 700.0)))


def _initial_m(size: int) -> list[float]:
    """Agreement is likely among matches: the best level gets most of the mass."""
    if size == 1:
        return [1.0]
    rest = 0.1 / (size - 1)
    return [0.9] + [rest] * (size - 1)


def _patterns(
    scorer: Scorer, features: list[Features], pairs: set[int], n: int
) -> Counter[tuple[int, ...]]:
    return Counter(scorer.levels(features[code // n], features[code % n]) for code in pairs)


def _masked_patterns(
    scorer: Scorer, features: list[Features], pairs: dict[int, list[bool]], n: int
) -> Counter[tuple[int, ...]]:
    """Comparison vectors with the comparisons a pair was blocked on shown as missing."""
    counted: Counter[tuple[int, ...]] = Counter()
    for code, active in pairs.items():
        vector = scorer.levels(features[code // n], features[code % n])
        counted[tuple(v if on else -1 for v, on in zip(vector, active, strict=True))] += 1
    return counted


def _session_m(
    rules: RuleSet,
    sessions: list[tuple[Counter[tuple[int, ...]], list[bool]]],
    patterns: Counter[tuple[int, ...]],
    u: list[list[float]],
    iterations: int,
) -> tuple[list[list[float]], int]:
    """m per comparison: the sessions where it was active, weighted by their matches."""
    sums = [[0.0] * len(c.levels) for c in rules.comparisons]
    weights = [0.0] * len(rules.comparisons)
    rounds = 0
    for session_patterns, active in sessions:
        if not session_patterns or not any(active):
            continue
        m, prior, used = _expectation_maximisation(rules, session_patterns, u, iterations, active)
        rounds = max(rounds, used)
        matches = prior * sum(session_patterns.values())
        for c, on in enumerate(active):
            if on:
                weights[c] += matches
                sums[c] = [s + matches * x for s, x in zip(sums[c], m[c], strict=True)]
    # A comparison that every rule blocks on is estimated on all candidate pairs.
    fallback, _, used = _expectation_maximisation(
        rules, patterns, u, iterations, [True] * len(rules.comparisons)
    )
    rounds = max(rounds, used)
    m = [
        [s / weights[c] for s in sums[c]] if weights[c] > 0 else fallback[c]
        for c in range(len(rules.comparisons))
    ]
    return m, rounds


def _expectation_maximisation(
    rules: RuleSet,
    patterns: Counter[tuple[int, ...]],
    u: list[list[float]],
    iterations: int,
    active: list[bool],
    *,
    m_start: list[list[float]] | None = None,
    fit_m: bool = True,
) -> tuple[list[list[float]], float, int]:
    """EM over comparison vectors with u fixed; inactive comparisons are left out."""
    m = m_start or [_initial_m(len(c.levels)) for c in rules.comparisons]
    vetoes = [[level.veto for level in c.levels] for c in rules.comparisons]
    used = [c for c, on in enumerate(active) if on]
    prior = 0.1
    rounds = 0
    for rounds in range(1, iterations + 1):  # noqa: B007 - the count is reported
        m_counts = [[0.0] * len(row) for row in m]
        matched = total = 0.0
        for vector, count in patterns.items():
            total += count
            if any(vector[c] >= 0 and vetoes[c][vector[c]] for c in used):
                # A veto level is the rule file's knowledge that such a pair is two people
                # (two good, different ID numbers: twins share everything else).  Counting
                # those pairs as possible matches would teach m that matches often differ
                # there, and blunt the very field that tells twins apart.
                continue
            log_odds = math.log(prior / (1 - prior))
            for c in used:
                level = vector[c]
                if level >= 0:
                    log_odds += math.log(max(m[c][level], FLOOR) / u[c][level])
            posterior = 1.0 / (1.0 + math.exp(min(-log_odds, 700.0)))
            matched += posterior * count
            for c in used:
                if vector[c] >= 0:
                    m_counts[c][vector[c]] += posterior * count
        new_prior = _clamp(matched / total) if total else prior
        new_m = m
        if fit_m:
            new_m = [
                [(x + 1e-3) / (sum(row) + 1e-3 * len(row)) for x in row] if c in used else m[c]
                for c, row in enumerate(m_counts)
            ]
        change = max(abs(new_prior - prior), *(
            abs(a - b) for r1, r2 in zip(m, new_m, strict=True) for a, b in zip(r1, r2, strict=True)
        ))  # fmt: skip
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
