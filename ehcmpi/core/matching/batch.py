"""Batch matching: deduplicate one set of records or link two (§4.1.1 索引定时任务, 自动合并).

Candidate pairs come from the rule set's blocking rules (a key shared by more records than
the rule's cap is skipped and counted, so the cap's effect is visible); each pair is scored
once even when several rules propose it; pairs at or above the match threshold are joined
into clusters by transitive closure (union–find), pairs in the review band are returned for
the review queue.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from ehcmpi.core.matching.blocking import record_keys
from ehcmpi.core.matching.record import MatchRecord, with_document_facts
from ehcmpi.core.matching.rules import RuleSet
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
    records: Sequence[MatchRecord], rules: RuleSet, split: int | None = None
) -> tuple[set[int], list[BlockingStats]]:
    """Candidate pairs encoded as ``i * n + j`` (i < j).

    With ``split``, records ``[:split]`` are one side and ``[split:]`` the other: only pairs
    across the two sides are candidates (linkage rather than deduplication).
    """
    n = len(records)
    pairs: set[int] = set()
    stats = []
    for rule in rules.blocking:
        blocks: dict[str, list[int]] = defaultdict(list)
        for index, record in enumerate(records):
            for key in record_keys(record, rule.name, rule.keys):
                blocks[key].append(index)
        stat = BlockingStats(rule.name, keys=len(blocks))
        for members in blocks.values():
            if len(members) < 2:
                continue
            if len(members) > rule.cap:
                stat.capped_keys += 1
                stat.capped_pairs += len(members) * (len(members) - 1) // 2
                continue
            for code in _block_pairs(members, n, split):
                stat.pairs += 1
                pairs.add(code)
        stats.append(stat)
    return pairs, stats


def _block_pairs(members: list[int], n: int, split: int | None) -> Iterator[int]:
    members = sorted(set(members))
    for x, i in enumerate(members):
        for j in members[x + 1 :]:
            if split is None or (i < split) != (j < split):
                yield i * n + j


def run_batch(
    records: Sequence[MatchRecord], rules: RuleSet, split: int | None = None
) -> BatchResult:
    """Block, score and decide; ``split`` as in :func:`candidate_pairs`."""
    result = BatchResult()
    scorer = Scorer(rules)
    started = time.perf_counter()
    records = [with_document_facts(record) for record in records]
    features = [scorer.features(record) for record in records]
    result.seconds["features"] = time.perf_counter() - started
    started = time.perf_counter()
    pairs, result.blocking = candidate_pairs(records, rules, split)
    result.candidates = len(pairs)
    result.seconds["blocking"] = time.perf_counter() - started
    started = time.perf_counter()
    _score(scorer, features, pairs, len(records), result)
    result.seconds["scoring"] = time.perf_counter() - started
    return result


def _score(
    scorer: Scorer, features: list[Features], pairs: set[int], n: int, result: BatchResult
) -> None:
    match, possible = scorer.rules.match_threshold, scorer.rules.possible_threshold
    weight = scorer.weight
    for code in pairs:
        i, j = divmod(code, n)
        w = weight(features[i], features[j])
        if w >= match:
            result.matches.append((i, j, w))
        elif w >= possible:
            result.possible.append((i, j, w))
