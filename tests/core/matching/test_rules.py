"""Match rules as data (guideline §4.1.1 基于规则的自动合并): loading, dumping, validation.

Pins what a site administrator editing a rule file relies on: the shipped default loads;
``dump_rules`` writes text that ``load_rules`` reads back to an equal rule set (so a trained
rule set can be stored and reloaded unchanged); and every mistake in a rule file is refused
when loaded, as a ``RulesError`` whose message names the offending place, rather than
surfacing later as a wrong link or a crash in the middle of a batch run.
"""

from __future__ import annotations

import re
from importlib import resources

import pytest

from ehcmpi.core.matching.rules import RulesError, RuleSet, dump_rules, load_rules

#: A small valid rule file; every validation case below is one edit of it.
MINIMAL = """\
version = "t1"
prior = 0.01

[thresholds]
match = 8.0
possible = 2.0

[[blocking]]
name = "phone"
keys = ["phone"]
cap = 10

[[comparisons]]
name = "phone"
comparator = "phone"
levels = [
  { name = "exact", m = 0.8, u = 0.001 },
  { name = "typo", m = 0.1, u = 0.001 },
  { name = "different", m = 0.1, u = 0.998 },
]

[[comparisons]]
name = "given"
comparator = "string"
params = { field = "given_name", tf = true }
levels = [
  { name = "exact", m = 0.9, u = 0.01, tf = true },
  { name = "different", m = 0.1, u = 0.99 },
]
"""

BLOCKING = '[[blocking]]\nname = "phone"\nkeys = ["phone"]\ncap = 10\n'
COMPARISONS = MINIMAL[MINIMAL.index("[[comparisons]]") :]
PHONE_EXACT = '{ name = "exact", m = 0.8, u = 0.001 }'
PHONE_TYPO = '{ name = "typo", m = 0.1, u = 0.001 }'
GIVEN_EXACT = '{ name = "exact", m = 0.9, u = 0.01, tf = true }'


def variant(old: str, new: str) -> str:
    """MINIMAL with one edit; the edited text must occur exactly once."""
    assert MINIMAL.count(old) == 1, old
    return MINIMAL.replace(old, new)


def test_the_minimal_rule_text_is_valid() -> None:
    rules = load_rules(MINIMAL)
    assert rules.version == "t1"
    assert [c.name for c in rules.comparisons] == ["phone", "given"]
    assert rules.comparison("given").levels[0].tf is True
    assert rules.blocking[0].cap == 10


# (case id, rule text, fragment the message must contain: the place of the mistake)
INVALID = [
    ("invalid-toml", variant("prior = 0.01", "prior = "), "not valid TOML"),
    ("unknown-top-level-key", "priors = 0.2\n" + MINIMAL, "rules: unknown key(s) ['priors']"),
    ("unknown-threshold-key", variant("possible = 2.0", "possible = 2.0\nreview = 1.0"),
     "thresholds: unknown key(s) ['review']"),
    ("missing-thresholds", variant("[thresholds]\nmatch = 8.0\npossible = 2.0\n", ""),
     "rules.thresholds"),
    ("missing-version", variant('version = "t1"\n', ""), "rules.version"),
    ("prior-is-one", variant("prior = 0.01", "prior = 1.0"), "rules.prior"),
    ("prior-is-zero", variant("prior = 0.01", "prior = 0"), "rules.prior"),
    ("possible-above-match", variant("possible = 2.0", "possible = 9.0"), "thresholds"),
    ("threshold-not-a-number", variant("match = 8.0", 'match = "8"'), "thresholds.match"),
    ("unknown-comparator", variant('comparator = "phone"', 'comparator = "telephone"'),
     "comparisons[0]: unknown comparator 'telephone'"),
    ("unknown-comparison-key",
     variant('comparator = "phone"', 'comparator = "phone"\nweight = 2'),
     "comparisons[0]: unknown key(s) ['weight']"),
    ("string-unknown-param",
     variant('params = { field = "given_name", tf = true }',
             'params = { field = "given_name", tf = true, fuzzy = true }'),
     "comparisons[1].params: comparator 'string': unknown param 'fuzzy'"),
    ("string-missing-field-param",
     variant('params = { field = "given_name", tf = true }', "params = { tf = true }"),
     "comparisons[1].params: comparator 'string': param 'field' is required"),
    ("string-unknown-field",
     variant('field = "given_name"', 'field = "nickname"'), "comparisons[1].params"),
    ("params-not-a-table",
     variant('params = { field = "given_name", tf = true }', 'params = "given_name"'),
     "comparisons[1].params: expected a table"),
    ("levels-wrong-order",
     variant(f"  {PHONE_EXACT},\n  {PHONE_TYPO},", f"  {PHONE_TYPO},\n  {PHONE_EXACT},"),
     "comparisons[0].levels: comparator 'phone' has levels ['exact', 'typo', 'different']"),
    ("level-missing", variant(f"  {PHONE_TYPO},\n", ""), "comparisons[0].levels"),
    ("level-renamed", variant(PHONE_TYPO, PHONE_TYPO.replace("typo", "close")),
     "comparisons[0].levels"),
    ("m-is-zero", variant(PHONE_EXACT, PHONE_EXACT.replace("m = 0.8", "m = 0.0")),
     "comparisons[0].levels[0].m"),
    ("m-is-one", variant(PHONE_EXACT, PHONE_EXACT.replace("m = 0.8", "m = 1")),
     "comparisons[0].levels[0].m"),
    ("m-is-text", variant(PHONE_EXACT, PHONE_EXACT.replace("m = 0.8", 'm = "0.8"')),
     "comparisons[0].levels[0].m"),
    ("u-above-one", variant(PHONE_TYPO, PHONE_TYPO.replace("u = 0.001", "u = 1.5")),
     "comparisons[0].levels[1].u"),
    ("u-negative", variant(PHONE_TYPO, PHONE_TYPO.replace("u = 0.001", "u = -0.001")),
     "comparisons[0].levels[1].u"),
    ("tf-not-bool", variant(GIVEN_EXACT, GIVEN_EXACT.replace("tf = true", 'tf = "yes"')),
     "comparisons[1].levels[0].tf"),
    ("veto-not-bool", variant(GIVEN_EXACT, GIVEN_EXACT.replace("tf = true", "veto = 1")),
     "comparisons[1].levels[0].veto"),
    ("unknown-level-key",
     variant(PHONE_EXACT, PHONE_EXACT.replace("u = 0.001", "u = 0.001, weight = 9")),
     "comparisons[0].levels[0]: unknown key(s) ['weight']"),
    ("duplicate-comparison-name", variant('name = "given"', 'name = "phone"'),
     "comparisons: names must be unique"),
    ("unknown-blocking-key", variant('keys = ["phone"]', 'keys = ["telephone"]'),
     "blocking[0].keys: unknown blocking key 'telephone'"),
    ("empty-blocking-keys", variant('keys = ["phone"]', "keys = []"), "blocking[0].keys"),
    ("unknown-blocking-rule-key", variant("cap = 10", "cap = 10\nsize = 3"),
     "blocking[0]: unknown key(s) ['size']"),
    ("cap-below-two", variant("cap = 10", "cap = 1"), "blocking[0].cap"),
    ("cap-not-integer", variant("cap = 10", "cap = 2.5"), "blocking[0].cap"),
    ("cap-is-text", variant("cap = 10", 'cap = "10"'), "blocking[0].cap"),
    ("cap-is-bool", variant("cap = 10", "cap = true"), "blocking[0].cap"),
    ("term-frequencies-unknown-comparison",
     MINIMAL + '\n[term_frequencies.surname]\n"王" = 0.07\n',
     "term_frequencies.surname: no comparison of that name"),
    ("term-frequency-out-of-range", MINIMAL + '\n[term_frequencies.given]\n"伟" = 1.5\n',
     "term_frequencies.given"),
    ("term-frequencies-not-a-table", MINIMAL + "\nterm_frequencies = 3\n", "term_frequencies"),
    ("no-comparisons", MINIMAL.replace(COMPARISONS, ""), "at least one comparison"),
    ("no-blocking", variant(BLOCKING, ""), "one blocking rule"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "place"), [case[1:] for case in INVALID], ids=[case[0] for case in INVALID]
)
def test_a_bad_rule_file_is_refused_naming_the_place(text: str, place: str) -> None:
    with pytest.raises(RulesError, match=re.escape(place)):
        load_rules(text)


def test_a_rules_error_is_a_value_error() -> None:
    # Callers that handle bad input as ValueError (CLI, API) also catch a bad rule file.
    with pytest.raises(ValueError, match=r"rules\.prior"):
        load_rules(variant("prior = 0.01", "prior = 2.0"))


@pytest.mark.parametrize(
    "keys",
    [
        ["phone", "birth_year"],
        ["near_pinyin", "birth_date"],
        ["field:extra.suburb"],
        ["prefix:3:field:postcode"],
        ["name_set", "gender", "area_code"],
    ],
)
def test_known_blocking_keys_and_arguments_load(keys: list[str]) -> None:
    quoted = ", ".join(f'"{k}"' for k in keys)
    rules = load_rules(variant('keys = ["phone"]', f"keys = [{quoted}]"))
    assert rules.blocking[0].keys == tuple(keys)


def test_cap_two_is_the_smallest_accepted_and_cap_defaults_to_a_hundred() -> None:
    assert load_rules(variant("cap = 10", "cap = 2")).blocking[0].cap == 2
    assert load_rules(variant("cap = 10\n", "")).blocking[0].cap == 100


def test_equal_thresholds_leave_no_review_band_and_are_accepted() -> None:
    rules = load_rules(variant("possible = 2.0", "possible = 8.0"))
    assert rules.match_threshold == rules.possible_threshold == 8.0


@pytest.mark.parametrize(
    "key", ["prefix:3:telephone", "prefix:three:phone", "prefix"], ids=["inner", "size", "bare"]
)
def test_a_prefix_over_an_unusable_key_is_refused_when_loaded(key: str) -> None:
    # The loader checks only the part before the first ":", so these load today and then
    # raise KeyError/ValueError from blocking.record_keys on the first record of a batch run.
    with pytest.raises(RulesError, match=re.escape("blocking[0].keys")):
        load_rules(variant('keys = ["phone"]', f'keys = ["{key}"]'))


# --- the shipped default ----------------------------------------------------------------------


def test_the_default_rules_load_from_the_packaged_file() -> None:
    text = resources.files("ehcmpi.core.matching").joinpath("default_rules.toml").read_text("utf-8")
    rules = load_rules()
    assert rules == load_rules(text)
    assert rules.version == "zh-synthetic-2026.11"
    assert {c.name for c in rules.comparisons} == {
        "document",
        "name",
        "birth_date",
        "gender",
        "household",
    }
    assert rules.possible_threshold < rules.match_threshold


def test_the_default_rules_never_auto_link_two_different_id_numbers() -> None:
    # Twins share name sound, birth date, address and phone: only the ID tells them apart.
    levels = {level.name: level for level in load_rules().comparison("document").levels}
    assert levels["different"].veto
    assert not any(level.veto for name, level in levels.items() if name != "different")


def test_the_default_rules_adjust_agreeing_names_by_frequency() -> None:
    levels = {level.name: level for level in load_rules().comparison("name").levels}
    assert levels["exact"].tf and levels["pinyin"].tf
    assert not levels["different"].tf


def test_level_weights_are_log2_of_m_over_u() -> None:
    rules = load_rules(MINIMAL)
    exact, typo, different = rules.comparison("phone").levels
    assert exact.weight == pytest.approx(9.643856189774724)  # log2(0.8 / 0.001)
    assert typo.weight == pytest.approx(6.643856189774724)
    assert different.weight < 0
    assert rules.prior_weight == pytest.approx(-6.6293566200796095)  # log2(0.01 / 0.99)


# --- dump → load ------------------------------------------------------------------------------

RICH = (
    MINIMAL.replace('version = "t1"', 'version = "site-2024.1"\ndescription = "北京 \\"三院\\"\\n"')
    .replace(GIVEN_EXACT, GIVEN_EXACT.replace("tf = true", "tf = true, veto = false"))
    .replace(
        'params = { field = "given_name", tf = true }',
        'params = { field = "extra.suburb", tf = true, typo = true, jaro_winkler = [0.9, 0.8] }',
    )
    .replace(
        '  { name = "different", m = 0.1, u = 0.99 },',
        '  { name = "typo", m = 0.05, u = 0.001 },\n'
        '  { name = "jw>=0.9", m = 0.02, u = 0.002 },\n'
        '  { name = "jw>=0.8", m = 0.02, u = 0.007 },\n'
        '  { name = "different", m = 0.01, u = 0.98, veto = true },',
    )
    + """
[[blocking]]
name = "suburb_postcode"
keys = ["field:extra.suburb", "prefix:3:field:postcode"]
cap = 2

[[comparisons]]
name = "address"
comparator = "address"
params = { similar = 0.5 }
levels = [
  { name = "exact", m = 0.6, u = 0.001 },
  { name = "similar", m = 0.2, u = 0.01 },
  { name = "area", m = 0.1, u = 0.05 },
  { name = "different", m = 0.1, u = 0.94 },
]

[term_frequencies.given]
"north sydney" = 0.0123
"王伟" = 1e-07
"a \\"quoted\\" = value" = 0.5
"""
)


def assert_same_rules(reloaded: RuleSet, original: RuleSet) -> None:
    assert reloaded.version == original.version
    assert reloaded.description == original.description
    assert reloaded.prior == original.prior
    assert (reloaded.match_threshold, reloaded.possible_threshold) == (
        original.match_threshold,
        original.possible_threshold,
    )
    assert reloaded.blocking == original.blocking
    for got, want in zip(reloaded.comparisons, original.comparisons, strict=True):
        assert (got.name, got.comparator_name, dict(got.params)) == (
            want.name,
            want.comparator_name,
            dict(want.params),
        )
        assert got.levels == want.levels  # names, m, u, tf and veto flags
    assert reloaded.term_frequencies == original.term_frequencies
    assert reloaded == original


@pytest.mark.parametrize("source", ["default", "minimal", "rich"])
def test_dump_then_load_gives_an_equal_rule_set(source: str) -> None:
    original = {"default": load_rules(), "minimal": load_rules(MINIMAL), "rich": load_rules(RICH)}[
        source
    ]
    text = dump_rules(original)
    reloaded = load_rules(text)
    assert_same_rules(reloaded, original)
    assert dump_rules(reloaded) == text


def test_the_rich_rule_set_really_carries_what_the_round_trip_must_keep() -> None:
    # Guards the round-trip test above against a fixture that lost its flags or tables.
    rules = load_rules(RICH)
    given = rules.comparison("given")
    assert given.params["jaro_winkler"] == [0.9, 0.8]
    assert [lv.name for lv in given.levels] == ["exact", "typo", "jw>=0.9", "jw>=0.8", "different"]
    assert given.levels[0].tf and given.levels[-1].veto
    assert rules.description == '北京 "三院"\n'
    assert rules.term_frequencies["given"]["王伟"] == 1e-07
    assert rules.blocking[1].cap == 2
