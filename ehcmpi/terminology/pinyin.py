"""Pinyin of Chinese names for search by pinyin (guideline §4.1.2 索引查询, 模糊查询).

Names are stored with a compact, tone-less, lower-case pinyin key ("张伟" → "zhangwei") so that
``name=zhang wei`` and ``name=Zhang Wei`` find 张伟.  The surname readings that everyday
pinyin gets wrong (单 shan, 曾 zeng, 解 xie, 仇 qiu, 区 ou, 查 zha, 朴 piao, 尉迟 yuchi) are
taken from a surname table; ``pypinyin`` reads the rest.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from pypinyin import Style, lazy_pinyin

#: Surnames whose reading as a surname differs from the everyday reading of the character.
SURNAME_READINGS: dict[str, tuple[str, ...]] = {
    "尉迟": ("yu", "chi"),
    "万俟": ("mo", "qi"),
    "单于": ("chan", "yu"),
    "单": ("shan",),
    "曾": ("zeng",),
    "解": ("xie",),
    "仇": ("qiu",),
    "区": ("ou",),
    "查": ("zha",),
    "朴": ("piao",),
    "盖": ("ge",),
    "乐": ("yue",),
    "繁": ("po",),
    "员": ("yun",),
    "覃": ("qin",),
    "缪": ("miao",),
    "翟": ("zhai",),
    "黑": ("he",),
    "秘": ("bi",),
    "长孙": ("zhang", "sun"),
}

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_NOT_LETTER = re.compile(r"[^a-z]")


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


def _syllables(name: str) -> list[str]:
    for surname in sorted(SURNAME_READINGS, key=len, reverse=True):
        if name.startswith(surname):
            rest = name[len(surname) :]
            return list(SURNAME_READINGS[surname]) + _plain(rest)
    return _plain(name)


def _plain(text: str) -> list[str]:
    return [s for s in lazy_pinyin(text, style=Style.NORMAL, errors="ignore") if s]


@lru_cache(maxsize=65536)
def name_pinyin(name: str) -> str:
    """Space-separated tone-less pinyin of a Chinese name ("单田芳" → "shan tian fang").

    A Latin-script name is returned lower-cased with its words as given.
    """
    text = unicodedata.normalize("NFKC", name).strip()
    if not has_cjk(text):
        return " ".join(text.lower().split())
    return " ".join(_syllables(text.replace(" ", "").replace("·", "")))


def pinyin_key(text: str) -> str:
    """Compact search key: pinyin of a Chinese name, or a typed pinyin string, letters only."""
    value = unicodedata.normalize("NFKC", text).lower()
    if has_cjk(value):
        value = name_pinyin(value)
    return _NOT_LETTER.sub("", value.replace("ü", "v"))


#: Compound surnames (复姓), longest first when splitting a name into family and given names.
COMPOUND_SURNAMES = frozenset(
    [
        "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙",
        "宇文", "司徒", "夏侯", "轩辕", "令狐", "端木", "独孤", "南宫", "西门", "万俟",
        "闻人", "百里", "呼延", "单于", "澹台", "公冶", "太史", "申屠", "钟离", "宗政",
        "濮阳", "淳于", "赫连", "拓跋",
    ]
)  # fmt: skip


def split_chinese_name(name: str) -> tuple[str, str]:
    """(family, given) of a Chinese name: a compound surname when it starts with one."""
    text = name.strip()
    if len(text) > 2 and text[:2] in COMPOUND_SURNAMES:
        return text[:2], text[2:]
    return text[:1], text[1:]
