"""A container whose match rules have round numbers, so each test's outcome is plain arithmetic.

Weights (log2 m/u): name exact +4, birth date exact +10, phone exact +13, document exact
+20 and different -20, gender different -5; prior 0; MATCH at 15, POSSIBLE_MATCH at 5.
So name + birth date alone (14) is a POSSIBLE_MATCH and name + birth date + phone a MATCH.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from ehcmpi.bootstrap import Container, build
from ehcmpi.settings import MatchingSettings, Settings

RULES = """
version = "test-1"
prior = 0.5

[thresholds]
match = 15.0
possible = 5.0

[[blocking]]
name = "document"
keys = ["document"]
cap = 20

[[blocking]]
name = "phone"
keys = ["phone"]
cap = 20

[[blocking]]
name = "pinyin_date"
keys = ["pinyin", "birth_date"]
cap = 20

[[comparisons]]
name = "document"
comparator = "document"
levels = [
  { name = "exact", m = 0.5, u = 0.000000476837158203125 },
  { name = "legacy", m = 0.1, u = 0.000000095367431640625 },
  { name = "typo", m = 0.1, u = 0.0001 },
  { name = "different", m = 0.00000095367431640625, u = 1.0e-0, veto = true },
]

[[comparisons]]
name = "name"
comparator = "chinese_name"
levels = [
  { name = "exact", m = 0.8, u = 0.05 },
  { name = "pinyin", m = 0.1, u = 0.05 },
  { name = "near_pinyin", m = 0.04, u = 0.04 },
  { name = "one_char", m = 0.04, u = 0.04 },
  { name = "different", m = 0.02, u = 0.02 },
]

[[comparisons]]
name = "birth_date"
comparator = "birth_date"
levels = [
  { name = "exact", m = 0.5, u = 0.00048828125 },
  { name = "swapped", m = 0.1, u = 0.1 },
  { name = "one_digit", m = 0.1, u = 0.1 },
  { name = "year", m = 0.1, u = 0.1 },
  { name = "different", m = 0.2, u = 0.2 },
]

[[comparisons]]
name = "gender"
comparator = "gender"
levels = [
  { name = "exact", m = 0.5, u = 0.5 },
  { name = "different", m = 0.03125, u = 0.999 },
]

[[comparisons]]
name = "phone"
comparator = "phone"
levels = [
  { name = "exact", m = 0.5, u = 0.00006103515625 },
  { name = "typo", m = 0.1, u = 0.1 },
  { name = "different", m = 0.4, u = 0.4 },
]
"""


@pytest.fixture
def linked(settings: Settings, engine: Engine, tmp_path: pathlib.Path) -> Iterator[Container]:
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES.replace("1.0e-0", "0.999999"), encoding="utf-8")
    configured = settings.model_copy(update={"matching": MatchingSettings(rules=str(rules))})
    wired = build(configured, engine=engine)
    yield wired
    wired.audit.flush()
