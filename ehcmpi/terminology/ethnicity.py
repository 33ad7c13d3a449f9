"""Ethnicity codes of GB/T 3304-1991 《中国各民族名称的罗马字母拼写法和代码》.

The 56 nationalities in the order of the standard (01 汉族 … 56 基诺族), plus the two extra
codes used in Chinese health data sets: 97 其他 and 98 外国血统中国籍人士.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ehcmpi.terminology.errors import unknown_code

_NAMES = (
    "汉族", "蒙古族", "回族", "藏族", "维吾尔族", "苗族", "彝族", "壮族",
    "布依族", "朝鲜族", "满族", "侗族", "瑶族", "白族", "土家族", "哈尼族",
    "哈萨克族", "傣族", "黎族", "傈僳族", "佤族", "畲族", "高山族", "拉祜族",
    "水族", "东乡族", "纳西族", "景颇族", "柯尔克孜族", "土族", "达斡尔族", "仫佬族",
    "羌族", "布朗族", "撒拉族", "毛南族", "仡佬族", "锡伯族", "阿昌族", "普米族",
    "塔吉克族", "怒族", "乌孜别克族", "俄罗斯族", "鄂温克族", "德昂族", "保安族", "裕固族",
    "京族", "塔塔尔族", "独龙族", "鄂伦春族", "赫哲族", "门巴族", "珞巴族", "基诺族",
)  # fmt: skip

# The romanized names of the standard (its 罗马字母拼写), in the same order: the names an
# English text uses.
_ROMAN = (
    "Han", "Mongol", "Hui", "Zang", "Uygur", "Miao", "Yi", "Zhuang",
    "Buyei", "Chosen", "Man", "Dong", "Yao", "Bai", "Tujia", "Hani",
    "Kazak", "Dai", "Li", "Lisu", "Va", "She", "Gaoshan", "Lahu",
    "Sui", "Dongxiang", "Naxi", "Jingpo", "Kirgiz", "Tu", "Daur", "Mulao",
    "Qiang", "Blang", "Salar", "Maonan", "Gelao", "Xibe", "Achang", "Pumi",
    "Tajik", "Nu", "Uzbek", "Russ", "Ewenki", "Deang", "Bonan", "Yugur",
    "Gin", "Tatar", "Derung", "Oroqen", "Hezhen", "Monba", "Lhoba", "Jino",
)  # fmt: skip

ETHNICITIES: Mapping[str, str] = MappingProxyType(
    {f"{number:02d}": name for number, name in enumerate(_NAMES, start=1)}
    | {"97": "其他", "98": "外国血统中国籍人士"}
)
#: GB/T 3304 code → romanized name (97, 98: English descriptions).
ETHNICITIES_ROMAN: Mapping[str, str] = MappingProxyType(
    {f"{number:02d}": name for number, name in enumerate(_ROMAN, start=1)}
    | {"97": "Other", "98": "Chinese citizens of foreign origin"}
)


def ethnicity_name(code: str) -> str:
    """Return the Chinese name for a GB/T 3304 code; raise ``UnknownCodeError``."""
    try:
        return ETHNICITIES[code]
    except KeyError:
        raise unknown_code(code, "民族代码", "GB/T 3304 ethnicity code") from None
