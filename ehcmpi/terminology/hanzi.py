"""Traditional → simplified folding of Chinese characters, for comparing names and addresses.

Guideline §4.1.1 (索引合并) and §4.1.2 (模糊查询) compare patients registered by different
systems; Hong Kong, Macao and Taiwan residents and older systems write names in traditional
characters (張偉) that must meet their simplified form (张伟).

The table is OpenCC's character table (``TSCharacters.txt``, with the Taiwan and Hong Kong
variant tables ``TWVariantsRev.txt`` / ``HKVariantsRev.txt`` mapped through it), as shipped by
the pure-Python ``opencc-python-reimplemented`` package; only its data files are read.

Folding is character by character: phrase-level conversion (OpenCC's ``TSPhrases``) resolves
ambiguous words, which personal names do not have.  A character that is itself also a standard
simplified character (乾 in 乾隆, 於 the surname, 夥, 徵) is left alone, because its "simplified"
target (干, 于) would be a different name; both sides are folded the same way, so a pair still
meets whenever both are written alike.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from functools import cache, lru_cache
from importlib import resources

#: The package that ships OpenCC's dictionaries, and the files read from it.
_DATA_PACKAGE = "opencc"
_TRADITIONAL_TO_SIMPLIFIED = "TSCharacters.txt"
_VARIANT_TABLES = ("TWVariantsRev.txt", "HKVariantsRev.txt")


def _rows(name: str) -> Iterator[tuple[str, list[str]]]:
    path = resources.files(_DATA_PACKAGE).joinpath("dictionary", name)
    for line in path.read_text(encoding="utf-8").splitlines():
        source, _, targets = line.partition("\t")
        if source and targets:
            yield source, targets.split()


@cache
def _table() -> dict[int, str]:
    """``str.translate`` table: traditional (and TW/HK variant) character → simplified."""
    table: dict[int, str] = {}
    for source, targets in _rows(_TRADITIONAL_TO_SIMPLIFIED):
        if len(source) == 1 and source not in targets:
            table[ord(source)] = targets[0]
    for name in _VARIANT_TABLES:
        for source, targets in _rows(name):
            standard = targets[0]
            if len(source) == 1 and len(standard) == 1 and ord(source) not in table:
                table[ord(source)] = table.get(ord(standard), standard)
    return table


@lru_cache(maxsize=65536)
def to_simplified(text: str) -> str:
    """NFKC, then every traditional or TW/HK variant character folded to simplified.

    ``to_simplified("張偉") == "张伟"``; characters that are not traditional pass unchanged.
    """
    return unicodedata.normalize("NFKC", text).translate(_table())


def is_traditional(char: str) -> bool:
    """True when ``char`` is a traditional (or variant) character with another simplified form."""
    return len(char) == 1 and ord(char) in _table()
