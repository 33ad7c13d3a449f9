"""Batch matching (guideline §4.1.1 索引定时任务 / 自动合并): candidates, decisions, clusters.

Pins what the scheduled deduplication job relies on: a blocking key shared by more records
than its rule's cap proposes no pairs and is counted (``capped_keys``, ``capped_pairs``), so
the cost of the cap is visible; a pair proposed by several rules is scored once; with
``split`` only pairs across the two sides are candidates (linkage); ``run_batch`` with the
shipped default rules links true duplicates, sends borderline pairs and twins to review, and
``clusters`` joins linked pairs transitively (a–b, b–c → one patient).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from ehcmpi.core.matching.batch import BatchResult, BlockingStats, candidate_pairs, run_batch
from ehcmpi.core.matching.record import MatchDocument, MatchRecord
from ehcmpi.core.matching.rules import load_rules
from ehcmpi.terminology.gb11643 import mod11_2_check_char

#: Two blocking rules over the same field, so that both propose the same pairs; caps 3 and 4.
RULES = load_rules("""\
version = "batch-test"
prior = 0.5

[thresholds]
match = 8.0
possible = 2.0

[[blocking]]
name = "postcode"
keys = ["field:postcode"]
cap = 3

[[blocking]]
name = "postcode_prefix"
keys = ["prefix:3:field:postcode"]
cap = 4

[[comparisons]]
name = "postcode"
comparator = "string"
params = { field = "postcode" }
levels = [
  { name = "exact", m = 0.9, u = 0.001 },
  { name = "different", m = 0.1, u = 0.99 },
]
""")


def rec(key: str, **fields: Any) -> MatchRecord:
    return MatchRecord(key=key, **fields)


def decoded(pairs: set[int], n: int) -> set[tuple[int, int]]:
    return {divmod(code, n) for code in pairs}


def stats_by_rule(stats: list[BlockingStats]) -> dict[str, BlockingStats]:
    return {s.rule: s for s in stats}


def test_a_key_shared_by_more_records_than_the_cap_is_skipped_and_counted() -> None:
    # 100022 is shared by 4 records (> cap 3): skipped by "postcode", 6 pairs left out.
    # 100085 is shared by 2; the prefix "100" by all 6 (> cap 4): skipped, 15 pairs left out.
    postcodes = ["100022", "100022", "100022", "100022", "100085", "100085", "200120"]
    records = [rec(str(i), postcode=p) for i, p in enumerate(postcodes)]
    pairs, stats = candidate_pairs(records, RULES)
    assert decoded(pairs, len(records)) == {(4, 5)}
    by_rule = stats_by_rule(stats)
    assert by_rule["postcode"] == BlockingStats(
        "postcode", keys=3, pairs=1, capped_keys=1, capped_pairs=6
    )
    assert by_rule["postcode_prefix"] == BlockingStats(
        "postcode_prefix", keys=2, pairs=0, capped_keys=1, capped_pairs=15
    )


def test_a_key_shared_by_exactly_cap_records_is_kept() -> None:
    records = [rec(str(i), postcode="100022") for i in range(3)]
    pairs, stats = candidate_pairs(records, RULES)
    assert decoded(pairs, 3) == {(0, 1), (0, 2), (1, 2)}
    assert stats_by_rule(stats)["postcode"].capped_keys == 0


def test_a_pair_proposed_by_several_rules_is_one_candidate() -> None:
    records = [rec("a", postcode="100022"), rec("b", postcode="100022"), rec("c")]
    pairs, stats = candidate_pairs(records, RULES)
    assert decoded(pairs, 3) == {(0, 1)}
    # each rule reports its own contribution; the union counts the pair once
    assert [s.pairs for s in stats] == [1, 1]
    result = run_batch(records, RULES)
    assert result.candidates == 1
    assert [(i, j) for i, j, _ in result.matches] == [(0, 1)]


def test_records_without_the_key_are_never_candidates() -> None:
    records = [rec("a"), rec("b"), rec("c", postcode="100022")]
    pairs, stats = candidate_pairs(records, RULES)
    assert pairs == set()
    assert stats_by_rule(stats)["postcode"].keys == 1


def test_with_split_only_pairs_across_the_two_sides_are_candidates() -> None:
    # records[:2] are the hospital's, records[2:] the clinic's; 0-1 and 2-3 share a
    # postcode within a side and are not candidates.
    postcodes = ["100022", "100022", "100022", "100022"]
    records = [rec(str(i), postcode=p) for i, p in enumerate(postcodes)]
    loose = replace(RULES, blocking=tuple(replace(b, cap=10) for b in RULES.blocking))
    pairs, _ = candidate_pairs(records, loose, split=2)
    assert decoded(pairs, 4) == {(0, 2), (0, 3), (1, 2), (1, 3)}
    all_pairs, _ = candidate_pairs(records, loose)
    assert len(all_pairs) == 6
    result = run_batch(records, loose, split=2)
    assert {(i, j) for i, j, _ in result.matches} == {(0, 2), (0, 3), (1, 2), (1, 3)}


# --- run_batch with the shipped default rules ------------------------------------------------

TWIN_1 = "31011520100520011" + mod11_2_check_char("31011520100520011")
TWIN_2 = "31011520100520013" + mod11_2_check_char("31011520100520013")
TWINS_ADDRESS = "上海市浦东新区张江路88弄5号"

RECORDS = [
    # 0-1-2: one man.  0 and 1 share name, date and phone (with and without +86); 1 and 2
    # share a passport number (which, unlike an ID number, says nothing of the birth date)
    # and the name typed in pinyin; 0 and 2 share no blocking key, so only the closure puts
    # them together.
    rec("a", name="张伟", birth_date="1985-06-12", gender="1", phones=("13800138000",)),
    rec("b", name="张伟", birth_date="1985-06-12", gender="1", phones=("+86 138 0013 8000",),
        documents=(MatchDocument("03", "E12345678"),)),
    rec("c", name="Zhang Wei", gender="1", documents=(MatchDocument("03", "E12345678"),)),
    # 3-4: one woman: day and month swapped, two phone digits transposed.  李娜 is common and
    # a mistyped phone is no shared phone: not enough to link, nor, with the trained rules,
    # to ask an operator (a site that sees such slips trains its own rules).
    rec("d", name="李娜", birth_date="1990-03-07", gender="2", phones=("13912345678",),
        address="上海市浦东新区世纪大道100号"),
    rec("e", name="李娜", birth_date="1990-07-03", gender="2", phones=("13912345687",)),
    # 5-6: a common name and the same birth year, nothing else: not even a review (the
    # trained rules count a year-only agreement against a match).
    rec("f", name="王芳", birth_date="1978-11-02", gender="2", address="北京市海淀区中关村大街1号"),
    rec("g", name="王芳", birth_date="1978", gender="2"),
    # 7-8: twins: homophone names, same date, phone and address, consecutive valid IDs:
    # two people, neither linked nor queued.
    rec("i", name="刘洋", birth_date="2010-05-20", gender="1", phones=("13600000000",),
        address=TWINS_ADDRESS, documents=(MatchDocument("01", TWIN_1),)),
    rec("j", name="刘阳", birth_date="2010-05-20", gender="1", phones=("13600000000",),
        address=TWINS_ADDRESS, documents=(MatchDocument("01", TWIN_2),)),
    # 9, 10: other people (9 is a namesake of 5 and 6, born 14 years later).
    rec("h", name="王芳", birth_date="1992-01-15", gender="2", phones=("13700000001",)),
    rec("k", name="赵敏", birth_date="1965-02-28", gender="2", phones=("13500000002",)),
]  # fmt: skip


@pytest.fixture(scope="module")
def batch() -> BatchResult:
    return run_batch(RECORDS, load_rules())


def keyed(pairs: list[tuple[int, int, float]]) -> set[tuple[str, str]]:
    return {(RECORDS[i].key, RECORDS[j].key) for i, j, _ in pairs}


def test_run_batch_links_the_duplicates(batch: BatchResult) -> None:
    assert keyed(batch.matches) == {("a", "b"), ("b", "c")}
    rules = load_rules()
    assert all(w >= rules.match_threshold for _, _, w in batch.matches)
    assert all(i < j for i, j, _ in batch.matches + batch.possible)


def test_run_batch_queues_no_twins_for_review(batch: BatchResult) -> None:
    assert keyed(batch.possible) == set()  # twins with two good ID numbers: not even review
    rules = load_rules()
    assert all(rules.possible_threshold <= w < rules.match_threshold for _, _, w in batch.possible)


def test_run_batch_clusters_by_transitive_closure(batch: BatchResult) -> None:
    clusters = batch.clusters(len(RECORDS))
    assert clusters == [0, 0, 0, 3, 4, 5, 6, 7, 8, 9, 10]
    # a and c were never compared: only the chain a-b-c joins them
    assert ("a", "c") not in keyed(batch.matches + batch.possible)


def test_run_batch_reports_candidates_blocking_and_timing(batch: BatchResult) -> None:
    rules = load_rules()
    assert [s.rule for s in batch.blocking] == [r.name for r in rules.blocking]
    assert batch.candidates == len(candidate_pairs(RECORDS, rules)[0])
    assert batch.candidates >= len(batch.matches) + len(batch.possible)
    assert set(batch.seconds) == {"features", "blocking", "scoring"}
    assert all(s >= 0 for s in batch.seconds.values())


def test_the_order_of_the_records_does_not_change_the_clusters() -> None:
    reversed_records = RECORDS[::-1]
    result = run_batch(reversed_records, load_rules())
    n = len(RECORDS)
    clusters = result.clusters(n)
    groups = {
        frozenset(reversed_records[i].key for i in range(n) if clusters[i] == root)
        for root in set(clusters)
    }
    assert frozenset("abc") in groups
    assert len(groups) == n - 2


@pytest.mark.parametrize(
    ("matches", "expected"),
    [
        ([], [0, 1, 2, 3, 4, 5]),
        ([(0, 1), (1, 2)], [0, 0, 0, 3, 4, 5]),
        ([(3, 5), (1, 5)], [0, 1, 2, 1, 4, 1]),
        ([(4, 5), (2, 3), (3, 4), (0, 1)], [0, 0, 2, 2, 2, 2]),
        ([(0, 5), (1, 4), (4, 5)], [0, 0, 2, 3, 0, 0]),
    ],
    ids=["none", "chain", "star-from-the-end", "long-chain", "two-chains-joined"],
)
def test_clusters_are_identified_by_their_smallest_member(
    matches: list[tuple[int, int]], expected: list[int]
) -> None:
    result = BatchResult(matches=[(i, j, 20.0) for i, j in matches])
    assert result.clusters(6) == expected


def test_possible_pairs_do_not_join_clusters() -> None:
    result = BatchResult(matches=[(0, 1, 12.0)], possible=[(1, 2, 5.0)])
    assert result.clusters(3) == [0, 0, 2]
