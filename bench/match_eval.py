"""Pairwise evaluation of record matching: precision, recall, F1 and error inspection.

A pair is an ordered tuple ``(a, b)`` of two record keys with ``a < b`` (``pair(a, b)``);
every function here also accepts pairs as frozensets, unordered tuples or lists and
normalises them, so FEBRL truth (frozensets) and synthetic truth (ordered tuples) are used
as they are.  Predicted links may carry a score: ``(a, b, score)`` triples.

Pure Python on sets of tuples: a million pairs take about a second, scored ones a few
(cyclic GC is paused inside these functions; it would otherwise dominate next to a million
live records).
"""

from __future__ import annotations

import bisect
import functools
import gc
import heapq
import itertools
import math
import random
from collections import defaultdict
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

Pair = tuple[str, str]
ScoredPair = tuple[str, str, float]
P = ParamSpec("P")
R = TypeVar("R")


def _without_gc(function: Callable[P, R]) -> Callable[P, R]:
    """Pause cyclic GC: millions of new pair tuples next to a million live records otherwise
    trigger full collections again and again (no reference cycles are made here)."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        enabled = gc.isenabled()
        gc.disable()
        try:
            return function(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()

    return wrapper


def pair(a: str, b: str) -> Pair:
    """The canonical (ordered) form of the pair {a, b}."""
    return (a, b) if a < b else (b, a)


@_without_gc
def normalize_pairs(pairs: Iterable[Collection[str]]) -> set[Pair]:
    """Canonical pairs from tuples, lists or frozensets of two keys (self-pairs dropped)."""
    out: set[Pair] = set()
    add = out.add
    for item in pairs:
        if isinstance(item, tuple) and len(item) == 2:
            a, b = item
        else:
            a, b = _two(item)
        if a < b:
            add((a, b))
        elif b < a:
            add((b, a))
    return out


@_without_gc
def split_scores(scored: Iterable[Sequence[Any]]) -> dict[Pair, float]:
    """``{pair: score}`` from ``(a, b, score)`` triples; a repeated pair keeps its best score."""
    scores: dict[Pair, float] = {}
    get = scores.get
    for a, b, score in scored:
        key = (a, b) if a < b else (b, a)
        old = get(key)
        if old is None or score > old:
            scores[key] = float(score)
    return scores


@_without_gc
def clusters_to_pairs(clusters: Iterable[Iterable[str]]) -> set[Pair]:
    """Every pair of keys inside each cluster (the pairwise view of a deduplication)."""
    out: set[Pair] = set()
    for cluster in clusters:
        keys = sorted(set(cluster))
        out.update(itertools.combinations(keys, 2))
    return out


def assignment_to_clusters(assignment: Mapping[str, Hashable]) -> list[list[str]]:
    """Clusters from a ``key → cluster id`` mapping (e.g. a golden-record id per record)."""
    groups: dict[Hashable, list[str]] = defaultdict(list)
    for key, cluster in assignment.items():
        groups[cluster].append(key)
    return list(groups.values())


@dataclass(frozen=True, slots=True)
class Metrics:
    """Pairwise confusion counts and the derived rates (0.0 when undefined)."""

    tp: int
    fp: int
    fn: int

    @property
    def predicted(self) -> int:
        return self.tp + self.fp

    @property
    def actual(self) -> int:
        return self.tp + self.fn

    @property
    def precision(self) -> float:
        return self.tp / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.tp / self.actual if self.actual else 0.0

    @property
    def f1(self) -> float:
        denominator = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denominator if denominator else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
        }

    def __str__(self) -> str:
        return (
            f"P={self.precision:.4f} R={self.recall:.4f} F1={self.f1:.4f}"
            f" (tp={self.tp} fp={self.fp} fn={self.fn})"
        )


@_without_gc
def evaluate(
    predicted: Iterable[Sequence[Any]] | Iterable[Collection[str]],
    truth: Iterable[Collection[str]],
    *,
    threshold: float | None = None,
) -> Metrics:
    """Pairwise metrics of predicted links against the true pairs.

    ``predicted`` holds pairs, or ``(a, b, score)`` triples: all of them are links, or with
    ``threshold`` only those scoring at least ``threshold``.
    """
    links = _links(predicted, threshold)
    true = _as_pairs(truth)
    tp = len(links & true)
    return Metrics(tp=tp, fp=len(links) - tp, fn=len(true) - tp)


@_without_gc
def sweep(
    scored: Iterable[Sequence[Any]] | Mapping[Pair, float],
    truth: Iterable[Collection[str]],
    thresholds: Iterable[float] | None = None,
) -> list[tuple[float, Metrics]]:
    """Metrics at each threshold (links = pairs scoring >= threshold), ascending thresholds.

    Without ``thresholds`` every distinct score is a threshold (the full precision-recall
    curve; prefer ``best_f1`` for millions of distinct scores).  ``scored`` is
    ``(a, b, score)`` triples or a ``{pair: score}`` mapping.
    """
    positives, negatives, actual = _ranked(scored, truth)
    if thresholds is None:
        wanted = sorted(set(positives).union(negatives))
    else:
        wanted = sorted(set(thresholds))
    results = []
    for threshold in wanted:
        tp = len(positives) - bisect.bisect_left(positives, threshold)
        fp = len(negatives) - bisect.bisect_left(negatives, threshold)
        results.append((threshold, Metrics(tp=tp, fp=fp, fn=actual - tp)))
    return results


@_without_gc
def best_f1(
    scored: Iterable[Sequence[Any]] | Mapping[Pair, float],
    truth: Iterable[Collection[str]],
) -> tuple[float, Metrics]:
    """The threshold with the highest F1 over all distinct scores, and its metrics.

    Ties go to the higher threshold.  No scored pair: threshold +inf, nothing linked.
    """
    positives, negatives, actual = _ranked(scored, truth)
    best: tuple[float, float, int, int] = (0.0, float("inf"), 0, 0)  # f1, threshold, tp, fp
    i, j = len(positives), len(negatives)
    while i or j:
        # next threshold downwards: the largest score not yet counted
        threshold = max(positives[i - 1] if i else -math.inf, negatives[j - 1] if j else -math.inf)
        while i and positives[i - 1] >= threshold:
            i -= 1
        while j and negatives[j - 1] >= threshold:
            j -= 1
        tp, fp = len(positives) - i, len(negatives) - j
        f1 = 2 * tp / (tp + fp + actual) if tp else 0.0
        if f1 > best[0]:
            best = (f1, threshold, tp, fp)
    _, threshold, tp, fp = best
    return threshold, Metrics(tp=tp, fp=fp, fn=actual - tp)


@_without_gc
def _ranked(
    scored: Iterable[Sequence[Any]] | Mapping[Pair, float], truth: Iterable[Collection[str]]
) -> tuple[list[float], list[float], int]:
    """Sorted scores of true pairs, sorted scores of false pairs, number of true pairs."""
    scores = dict(scored) if isinstance(scored, Mapping) else split_scores(scored)
    true = _as_pairs(truth)
    positives: list[float] = []
    negatives: list[float] = []
    add_positive, add_negative = positives.append, negatives.append
    for key, score in scores.items():
        if key in true:
            add_positive(score)
        else:
            add_negative(score)
    positives.sort()
    negatives.sort()
    return positives, negatives, len(true)


@dataclass(frozen=True, slots=True)
class LabelRecall:
    """Recall restricted to the true pairs that carry one label."""

    label: str
    pairs: int
    found: int

    @property
    def recall(self) -> float:
        return self.found / self.pairs if self.pairs else 0.0


@_without_gc
def recall_by_label(
    predicted: Iterable[Sequence[Any]] | Iterable[Collection[str]],
    pair_labels: Mapping[Pair, Iterable[str]],
    *,
    threshold: float | None = None,
) -> dict[str, LabelRecall]:
    """Recall per label: for each label, how many true pairs carrying it were linked.

    ``pair_labels`` maps every true pair (canonical form) to its labels, e.g. the corruption
    kinds of the duplicate(s) in it (``SynthDataset.pair_labels()``).  A pair with several
    labels counts for each of them.  Sorted by label.
    """
    links = _links(predicted, threshold)
    totals: dict[str, int] = defaultdict(int)
    found: dict[str, int] = defaultdict(int)
    for key, labels in pair_labels.items():
        hit = key in links
        for label in labels:
            totals[label] += 1
            if hit:
                found[label] += 1
    return {label: LabelRecall(label, totals[label], found[label]) for label in sorted(totals)}


@_without_gc
def false_positive_rate_on(
    predicted: Iterable[Sequence[Any]] | Iterable[Collection[str]],
    negatives: Iterable[Collection[str]],
    *,
    threshold: float | None = None,
) -> tuple[int, int]:
    """(linked, total) over known non-matching pairs, e.g. hard negatives (twins, namesakes)."""
    links = _links(predicted, threshold)
    pairs = _as_pairs(negatives)
    return len(pairs & links), len(pairs)


@dataclass(frozen=True, slots=True)
class ErrorExamples:
    """A sample of wrong links and missed links, each with its score when one is known."""

    false_positives: list[tuple[Pair, float | None]]
    false_negatives: list[tuple[Pair, float | None]]


@_without_gc
def error_examples(
    predicted: Iterable[Sequence[Any]] | Iterable[Collection[str]],
    truth: Iterable[Collection[str]],
    n: int = 10,
    *,
    scores: Mapping[Pair, float] | None = None,
    threshold: float | None = None,
    seed: int = 0,
) -> ErrorExamples:
    """Up to ``n`` false positives and ``n`` false negatives to look at.

    With scores (``(a, b, score)`` triples in ``predicted``, or a ``scores`` mapping covering
    every compared pair), false positives come highest score first (the most confident
    mistakes) and false negatives highest score first too (the near misses; a missed pair with
    no score was never compared, e.g. lost by blocking, and comes last).  Without scores the
    sample is random but fixed by ``seed``.
    """
    predicted = list(predicted)
    known = dict(scores) if scores is not None else {}
    if _is_scored(predicted):
        known.update(split_scores(predicted))
    links = _links(predicted, threshold)
    true = _as_pairs(truth)
    rng = random.Random(seed)
    return ErrorExamples(
        false_positives=_pick(links - true, known, n, rng),
        false_negatives=_pick(true - links, known, n, rng),
    )


def describe_pair(
    key_pair: Pair, records: Mapping[str, Any], fields: Sequence[str] | None = None
) -> str:
    """Two records side by side, one field per line (for printing an error example).

    ``records`` maps keys to ``MatchRecord`` (or any object with the named attributes).
    """
    left, right = (records[key] for key in key_pair)
    names = fields or (
        "key",
        "name",
        "given_name",
        "family_name",
        "birth_date",
        "gender",
        "documents",
        "phones",
        "address",
        "area_code",
        "postcode",
        "extra",
    )
    lines = []
    for field_name in names:
        a, b = _show(getattr(left, field_name, None)), _show(getattr(right, field_name, None))
        if a == "" and b == "":
            continue
        mark = " " if a == b else "*"
        lines.append(f"{mark} {field_name:<12} {a:<40} | {b}")
    return "\n".join(lines)


# --- helpers ------------------------------------------------------------------------------


def _two(item: Collection[str]) -> tuple[str, str]:
    values = list(item)
    if len(values) == 1:  # frozenset({a}) of a self-pair
        return values[0], values[0]
    if len(values) != 2:
        raise ValueError(f"a pair has two keys, got {item!r}")
    return values[0], values[1]


def _as_pairs(pairs: Iterable[Collection[str]]) -> set[Pair]:
    return normalize_pairs(pairs)


def _is_scored(items: Collection[Any]) -> bool:
    first = next(iter(items), None)
    return isinstance(first, tuple | list) and len(first) == 3


def _links(predicted: Iterable[Any], threshold: float | None) -> set[Pair]:
    items = predicted if isinstance(predicted, Collection) else list(predicted)
    if _is_scored(items):
        if threshold is None:
            return {(a, b) if a < b else (b, a) for a, b, _ in items}
        return {(a, b) if a < b else (b, a) for a, b, score in items if score >= threshold}
    if threshold is not None and items:
        raise ValueError("a threshold needs (a, b, score) triples")
    return normalize_pairs(items)


def _pick(
    pairs: set[Pair], scores: Mapping[Pair, float], n: int, rng: random.Random
) -> list[tuple[Pair, float | None]]:
    if not pairs or n <= 0:
        return []
    if scores:
        first = heapq.nsmallest(
            n, pairs, key=lambda key: (key not in scores, -scores.get(key, 0.0), key)
        )
        return [(key, scores.get(key)) for key in first]
    chosen = rng.sample(sorted(pairs), min(n, len(pairs)))
    return [(key, None) for key in chosen]


def _show(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, tuple):
        return "; ".join(_show(item) for item in value)
    if hasattr(value, "doc_type") and hasattr(value, "number"):
        flag = "" if getattr(value, "valid", True) else " (invalid)"
        return f"{value.doc_type}:{value.number}{flag}"
    return str(value)
