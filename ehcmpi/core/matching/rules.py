"""Match rules as data (guideline §4.1.1 基于规则的自动合并; HAPI FHIR MDM style).

A rule file (TOML) holds everything that decides whether two records are one person:

- ``[[blocking]]``: the keys candidate pairs must share, each capped (a key shared by more
  records than ``cap`` is too common to say much: batch matching skips it, and a record
  matched as it comes in is compared with the key's ``cap`` newest records only);
- ``[[comparisons]]``: one comparator per field, each agreement level with its Fellegi–Sunter
  probabilities ``m`` = P(level | same person) and ``u`` = P(level | different people); a
  level marked ``tf`` takes its u from the value's frequency (``[term_frequencies]``), so
  that an agreeing common name (王伟) weighs less than a rare one;
- ``prior``: the share of candidate pairs that are matches, and ``[thresholds]``: match
  weights (log2 odds) at or above which a pair is MATCH (auto-link) or POSSIBLE_MATCH
  (review); below ``possible`` it is NO_MATCH.

The file is validated when loaded: unknown keys, unknown comparators or blocking keys,
levels that are not the comparator's, probabilities outside (0, 1) and thresholds out of
order are refused with a message that names the place.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from ehcmpi.core.matching.blocking import check_key, key_fields
from ehcmpi.core.matching.comparator import Comparator
from ehcmpi.core.matching.comparators import COMPARATORS, comparator_fields

DEFAULT_RULES = "default_rules.toml"


class RulesError(ValueError):
    """A rule file that cannot be used; the message names the offending entry."""


@dataclass(frozen=True, slots=True)
class Level:
    name: str
    m: float
    u: float
    tf: bool = False
    #: a pair at this level is two people whatever else agrees: NO_MATCH, neither linked nor
    #: queued for review (two different valid ID numbers — twins share everything else)
    veto: bool = False

    @property
    def weight(self) -> float:
        return math.log2(self.m / self.u)


@dataclass(frozen=True, slots=True)
class Comparison:
    """One field's comparator and the probabilities of its levels."""

    name: str
    comparator_name: str
    params: Mapping[str, Any]
    levels: tuple[Level, ...]
    comparator: Comparator = field(compare=False, repr=False)
    #: the record fields the comparator reads
    fields: frozenset[str] = field(default=frozenset(), compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class BlockingRule:
    name: str
    keys: tuple[str, ...]
    cap: int

    @property
    def fields(self) -> frozenset[str]:
        """The record fields its keys read (pairs it proposes agree there by construction)."""
        return frozenset().union(*(key_fields(key) for key in self.keys))


@dataclass(frozen=True, slots=True)
class RuleSet:
    version: str
    prior: float
    match_threshold: float
    possible_threshold: float
    comparisons: tuple[Comparison, ...]
    blocking: tuple[BlockingRule, ...]
    #: comparison name → value → frequency among records (the frequent values only)
    term_frequencies: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    description: str = ""

    @property
    def prior_weight(self) -> float:
        return math.log2(self.prior / (1 - self.prior))

    def comparison(self, name: str) -> Comparison:
        for comparison in self.comparisons:
            if comparison.name == name:
                return comparison
        raise KeyError(name)


def load_rules(text: str | None = None) -> RuleSet:
    """Parse and validate a rule file's text; without text, the shipped default."""
    if text is None:
        text = resources.files(__package__).joinpath(DEFAULT_RULES).read_text("utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"not valid TOML: {exc}") from None
    return parse_rules(data)


def parse_rules(data: Mapping[str, Any]) -> RuleSet:
    _only(
        data,
        "rules",
        {
            "version",
            "description",
            "prior",
            "thresholds",
            "blocking",
            "comparisons",
            "term_frequencies",
        },
    )
    prior = _probability(data, "prior", "rules")
    thresholds = _table(data, "thresholds", "rules")
    _only(thresholds, "thresholds", {"match", "possible"})
    match, possible = (
        _number(thresholds, "match", "thresholds"),
        _number(thresholds, "possible", "thresholds"),
    )
    if possible > match:
        raise RulesError("thresholds: possible must not exceed match")
    comparisons = tuple(
        _comparison(item, f"comparisons[{i}]") for i, item in enumerate(_list(data, "comparisons"))
    )
    names = [c.name for c in comparisons]
    if len(set(names)) != len(names):
        raise RulesError("comparisons: names must be unique")
    blocking = tuple(
        _blocking(item, f"blocking[{i}]") for i, item in enumerate(_list(data, "blocking"))
    )
    if not comparisons or not blocking:
        raise RulesError("rules need at least one comparison and one blocking rule")
    return RuleSet(
        version=_text(data, "version", "rules"),
        description=str(data.get("description", "")),
        prior=prior,
        match_threshold=match,
        possible_threshold=possible,
        comparisons=comparisons,
        blocking=blocking,
        term_frequencies=_term_frequencies(data.get("term_frequencies", {}), set(names)),
    )


def _comparison(item: Any, where: str) -> Comparison:
    if not isinstance(item, Mapping):
        raise RulesError(f"{where}: expected a table")
    _only(item, where, {"name", "comparator", "params", "levels"})
    kind = _text(item, "comparator", where)
    factory = COMPARATORS.get(kind)
    if factory is None:
        raise RulesError(f"{where}: unknown comparator '{kind}' (known: {sorted(COMPARATORS)})")
    params = item.get("params", {})
    if not isinstance(params, Mapping):
        raise RulesError(f"{where}.params: expected a table")
    try:
        comparator = factory(params)
    except (ValueError, TypeError) as exc:
        raise RulesError(f"{where}.params: {exc}") from None
    levels = tuple(
        _level(level, f"{where}.levels[{i}]") for i, level in enumerate(_list(item, "levels"))
    )
    if tuple(level.name for level in levels) != tuple(comparator.levels):
        raise RulesError(
            f"{where}.levels: comparator '{kind}' has levels {list(comparator.levels)}, "
            f"the file gives {[level.name for level in levels]}"
        )
    fields = comparator_fields(kind, params)
    return Comparison(_text(item, "name", where), kind, dict(params), levels, comparator, fields)


def _level(item: Any, where: str) -> Level:
    if not isinstance(item, Mapping):
        raise RulesError(f"{where}: expected a table")
    _only(item, where, {"name", "m", "u", "tf", "veto"})
    flags = {key: item.get(key, False) for key in ("tf", "veto")}
    for key, value in flags.items():
        if not isinstance(value, bool):
            raise RulesError(f"{where}.{key}: expected true or false")
    return Level(
        _text(item, "name", where),
        _probability(item, "m", where),
        _probability(item, "u", where),
        flags["tf"],
        flags["veto"],
    )


def _blocking(item: Any, where: str) -> BlockingRule:
    if not isinstance(item, Mapping):
        raise RulesError(f"{where}: expected a table")
    _only(item, where, {"name", "keys", "cap"})
    keys = item.get("keys")
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
        raise RulesError(f"{where}.keys: expected a non-empty list of key names")
    for key in keys:
        try:
            check_key(key)
        except ValueError as exc:
            raise RulesError(f"{where}.keys: {exc}") from None
    cap = item.get("cap", 100)
    if not isinstance(cap, int) or isinstance(cap, bool) or cap < 2:
        raise RulesError(f"{where}.cap: expected an integer of at least 2")
    return BlockingRule(_text(item, "name", where), tuple(keys), cap)


def _term_frequencies(data: Any, comparisons: set[str]) -> dict[str, dict[str, float]]:
    if not isinstance(data, Mapping):
        raise RulesError("term_frequencies: expected a table")
    result: dict[str, dict[str, float]] = {}
    for name, table in data.items():
        if name not in comparisons:
            raise RulesError(f"term_frequencies.{name}: no comparison of that name")
        if not isinstance(table, Mapping):
            raise RulesError(f"term_frequencies.{name}: expected a table")
        result[name] = {str(k): _probability(table, k, f"term_frequencies.{name}") for k in table}
    return result


def _only(data: Mapping[str, Any], where: str, allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise RulesError(f"{where}: unknown key(s) {unknown} (allowed: {sorted(allowed)})")


def _table(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = data.get(key)
    if not isinstance(value, Mapping):
        raise RulesError(f"{where}.{key}: expected a table")
    return value


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise RulesError(f"{key}: expected an array of tables")
    return value


def _text(data: Mapping[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise RulesError(f"{where}.{key}: expected a non-empty string")
    return value


def _number(data: Mapping[str, Any], key: str, where: str) -> float:
    value = data.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise RulesError(f"{where}.{key}: expected a number")
    return float(value)


def _probability(data: Mapping[str, Any], key: str, where: str) -> float:
    value = _number(data, key, where)
    if not 0 < value < 1:
        raise RulesError(f"{where}.{key}: expected a probability strictly between 0 and 1")
    return value


def dump_rules(rules: RuleSet) -> str:
    """The rule set as TOML text that :func:`load_rules` reads back unchanged."""
    lines = [
        f"version = {_toml(rules.version)}",
        f"description = {_toml(rules.description)}",
        f"prior = {_toml(rules.prior)}",
        "",
        "[thresholds]",
        f"match = {_toml(rules.match_threshold)}",
        f"possible = {_toml(rules.possible_threshold)}",
    ]
    for rule in rules.blocking:
        lines += [
            "",
            "[[blocking]]",
            f"name = {_toml(rule.name)}",
            f"keys = {_toml(list(rule.keys))}",
            f"cap = {rule.cap}",
        ]
    for comparison in rules.comparisons:
        lines += [
            "",
            "[[comparisons]]",
            f"name = {_toml(comparison.name)}",
            f"comparator = {_toml(comparison.comparator_name)}",
        ]
        if comparison.params:
            lines.append(f"params = {_toml(dict(comparison.params))}")
        lines.append("levels = [")
        for level in comparison.levels:
            flags = (", tf = true" if level.tf else "") + (", veto = true" if level.veto else "")
            lines.append(
                f"  {{ name = {_toml(level.name)}, m = {_toml(level.m)}, "
                f"u = {_toml(level.u)}{flags} }},"
            )
        lines.append("]")
    for name, table in rules.term_frequencies.items():
        lines += ["", f"[term_frequencies.{_toml(name)}]"]
        lines += [f"{_toml(value)} = {_toml(freq)}" for value, freq in table.items()]
    return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(float(value)) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_toml(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")
