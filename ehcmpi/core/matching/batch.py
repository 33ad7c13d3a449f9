"""Batch matching: deduplicate one set of records or link two (§4.1.1 索引定时任务, 自动合并).

Candidate pairs come from the rule set's blocking rules (a key shared by more records than
the rule's cap is skipped and counted, so the cap's effect is visible); each pair is scored
once even when several rules propose it; pairs at or above the match threshold are joined
into clusters by transitive closure (union–find), pairs in the review band are returned for
the review queue.
"""

from __future__ import annotations

import gc
import multiprocessing
import time
from array import array
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.pool import Pool
from typing import Any

from ehcmpi.core.matching.blocking import record_keys
from ehcmpi.core.matching.record import MatchRecord, with_document_facts
from ehcmpi.core.matching.rules import BlockingRule, RuleSet
from ehcmpi.core.matching.scoring import Features, Scorer


@dataclass(slots=True)
class BlockingStats:
    """What one blocking rule contributed: keys, pairs, and what its cap left out."""

    rule: str
    keys: int = 0
    pairs: int = 0
    capped_keys: int = 0
    capped_pairs: int = 0


@dataclass(slots=True)
class BatchResult:
    """Scored candidate pairs (indexes into the input), decisions and clusters."""

    matches: list[tuple[int, int, float]] = field(default_factory=list)
    possible: list[tuple[int, int, float]] = field(default_factory=list)
    candidates: int = 0
    blocking: list[BlockingStats] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def clusters(self, size: int) -> list[int]:
        """Cluster id (the smallest member index) of each record, by transitive closure."""
        parent = list(range(size))

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for a, b, _ in self.matches:
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
        return [find(i) for i in range(size)]


def candidate_pairs(
    records: Sequence[MatchRecord],
    rules: RuleSet,
    split: int | None = None,
) -> tuple[set[int], list[BlockingStats]]:
    """Candidate pairs encoded as ``i * n + j`` (i < j).

    With ``split``, records ``[:split]`` are one side and ``[split:]`` the other: only pairs
    across the two sides are candidates (linkage rather than deduplication).
    """
    results = [_rule_pairs(records, rule, split) for rule in rules.blocking]
    pairs: set[int] = set()
    for codes, _ in results:
        pairs.update(codes)
    return pairs, [stat for _, stat in results]


def _rule_pairs(
    records: Sequence[MatchRecord], rule: BlockingRule, split: int | None
) -> tuple[array[int], BlockingStats]:
    n = len(records)
    blocks: dict[str, list[int]] = defaultdict(list)
    for index, record in enumerate(records):
        for key in record_keys(record, rule.name, rule.keys):
            blocks[key].append(index)
    stat = BlockingStats(rule.name, keys=len(blocks))
    codes = array("q")
    for members in blocks.values():
        if len(members) < 2:
            continue
        if len(members) > rule.cap:
            stat.capped_keys += 1
            stat.capped_pairs += len(members) * (len(members) - 1) // 2
            continue
        codes.extend(_block_pairs(members, n, split))
    stat.pairs = len(codes)
    return codes, stat


def _block_pairs(members: list[int], n: int, split: int | None) -> Iterator[int]:
    members = sorted(set(members))
    for x, i in enumerate(members):
        for j in members[x + 1 :]:
            if split is None or (i < split) != (j < split):
                yield i * n + j


def run_batch(
    records: Sequence[MatchRecord],
    rules: RuleSet,
    split: int | None = None,
    *,
    workers: int = 1,
) -> BatchResult:
    """Block, score and decide; ``split`` as in :func:`candidate_pairs`.

    The cyclic garbage collector is paused meanwhile: a batch creates millions of small
    objects that live until it ends, and every collection would walk all of them again.
    ``workers`` > 1 forks that many processes for blocking and scoring (a batch job or
    benchmark; not from a threaded server, where forking is unsafe).
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        return _run_batch(records, rules, split, workers)
    finally:
        if paused:
            gc.enable()


def _run_batch(
    records: Sequence[MatchRecord], rules: RuleSet, split: int | None, workers: int
) -> BatchResult:
    result = BatchResult()
    scorer = Scorer(rules)
    started = time.perf_counter()
    records = [with_document_facts(record) for record in records]
    parallel = workers > 1 and len(records) >= PARALLEL_MIN
    # This process is one of the ``workers``: it computes the features while the forked
    # ones block, so the two phases overlap.
    with _forked(workers - 1 if parallel else 0, records=records, rules=rules, split=split) as pool:
        pending = None if pool is None else pool.map_async(_rule_job, range(len(rules.blocking)))
        features = [scorer.features(record) for record in records]
        result.seconds["features"] = time.perf_counter() - started
        if pending is None:
            runs = [_rule_pairs(records, rule, split) for rule in rules.blocking]
        else:
            runs = pending.get()
    pairs: set[int] = set()
    for codes, _ in runs:
        pairs.update(codes)
    result.blocking = [stat for _, stat in runs]
    result.candidates = len(pairs)
    result.seconds["blocking"] = time.perf_counter() - started - result.seconds["features"]
    # Scoring stays in this process: a forked worker touching every record's features pays
    # a copy-on-write page fault per page and returns its results pickled, which measured
    # slower than scoring here.
    started = time.perf_counter()
    result.matches, result.possible = _score(scorer, features, pairs, len(records))
    result.seconds["scoring"] = time.perf_counter() - started
    return result


Scored = tuple[list[tuple[int, int, float]], list[tuple[int, int, float]]]


def _score(scorer: Scorer, features: list[Features], codes: Iterable[int], n: int) -> Scored:
    match, possible = scorer.rules.match_threshold, scorer.rules.possible_threshold
    weight = scorer.weight
    matches, maybe = [], []
    for code in codes:
        i, j = divmod(code, n)
        w = weight(features[i], features[j])
        if w >= match:
            matches.append((i, j, w))
        elif w >= possible:
            maybe.append((i, j, w))
    return matches, maybe


# -- forked workers ------------------------------------------------------------------------
# Workers are forked after the inputs are built and read them from this module's global,
# copy-on-write: nothing big is pickled except the pair codes (compact int arrays).

PARALLEL_MIN = 20_000
_shared: dict[str, Any] = {}


@contextmanager
def _forked(workers: int, **shared: Any) -> Iterator[Pool | None]:
    if workers < 1:
        yield None
        return
    _shared.clear()
    _shared.update(shared)
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            yield pool
    finally:
        _shared.clear()


def _rule_job(index: int) -> tuple[array[int], BlockingStats]:
    rules: RuleSet = _shared["rules"]
    return _rule_pairs(_shared["records"], rules.blocking[index], _shared["split"])
