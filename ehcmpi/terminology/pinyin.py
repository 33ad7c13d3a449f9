"""Pinyin of Chinese names for search by pinyin (guideline §4.1.2 索引查询, 模糊查询).

Names are stored with a compact, tone-less, lower-case pinyin key ("张伟" → "zhangwei") so that
``name=zhang wei`` and ``name=Zhang Wei`` find 张伟.  The surname readings that everyday
pinyin gets wrong (单 shan, 曾 zeng, 解 xie, 仇 qiu, 区 ou, 查 zha, 朴 piao, 尉迟 yuchi) are
taken from a surname table; ``pypinyin`` reads the rest.

For matching (§4.1.1 索引合并), ``name_readings`` gives a name's syllables in Chinese order
(characters, or typed pinyin split by ``segment_pinyin``, given name first or last) and
``fold_syllable`` folds near-homophones (z/zh, c/ch, s/sh, l/n, hu-/f-, an/ang, en/eng,
in/ing), so that a blocking key and a comparator see the same syllables.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from pypinyin import Style, lazy_pinyin

from ehcmpi.terminology.hanzi import to_simplified

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

_SURNAMES_LONGEST_FIRST = sorted(SURNAME_READINGS, key=len, reverse=True)
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_NOT_LETTER = re.compile(r"[^a-z]")


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


def _syllables(name: str) -> list[str]:
    for surname in _SURNAMES_LONGEST_FIRST:
        if name.startswith(surname):
            rest = name[len(surname) :]
            return list(SURNAME_READINGS[surname]) + _plain(rest)
    return _plain_name(name)


def _plain(text: str) -> list[str]:
    return list(_plain_cached(text))


@lru_cache(maxsize=262144)
def _plain_cached(text: str) -> tuple[str, ...]:
    return tuple(s for s in lazy_pinyin(text, style=Style.NORMAL, errors="ignore") if s)


def _plain_name(chars: str) -> list[str]:
    """Everyday reading of a name, family and given name read apart.

    Reading them apart keeps pypinyin's phrase context inside the given name (朝阳 zhao
    yang) and lets both halves be cached: given names repeat far more than full names.
    """
    family, given = split_chinese_name(chars)
    return _plain(family) + _plain(given)


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


# --- Syllables and near-homophones (matching, guideline §4.1.1 索引合并 / §4.1.2 模糊查询) ---
#
# A name typed in Latin script ("ZHANG Wei", "zhangwei", "Weiming Zhang") is split into pinyin
# syllables so that it meets the same name written in characters, and syllables are folded
# over the regional-accent confusions that clerks' ears and pinyin input methods produce.

_SYLLABLE_LIST = """
    a ai an ang ao ba bai ban bang bao bei ben beng bi bian biao bie bin bing bo bu ca cai can
    cang cao ce cen ceng cha chai chan chang chao che chen cheng chi chong chou chu chua chuai
    chuan chuang chui chun chuo ci cong cou cu cuan cui cun cuo da dai dan dang dao de dei den
    deng di dia dian diao die ding diu dong dou du duan dui dun duo e ei en eng er fa fan fang
    fei fen feng fo fou fu ga gai gan gang gao ge gei gen geng gong gou gu gua guai guan guang
    gui gun guo ha hai han hang hao he hei hen heng hong hou hu hua huai huan huang hui hun huo
    ji jia jian jiang jiao jie jin jing jiong jiu ju juan jue jun ka kai kan kang kao ke kei ken
    keng kong kou ku kua kuai kuan kuang kui kun kuo la lai lan lang lao le lei len leng li lia
    lian liang liao lie lin ling liu lo long lou lu luan lun luo lv lve ma mai man mang mao me
    mei men meng mi mian miao mie min ming miu mo mou mu na nai nan nang nao ne nei nen neng ni
    nian niang niao nie nin ning niu nong nou nu nuan nun nuo nv nve o ou pa pai pan pang pao
    pei pen peng pi pian piao pie pin ping po pou pu qi qia qian qiang qiao qie qin qing qiong
    qiu qu quan que qun ran rang rao re ren reng ri rong rou ru rua ruan rui run ruo sa sai san
    sang sao se sen seng sha shai shan shang shao she shei shen sheng shi shou shu shua shuai
    shuan shuang shui shun shuo si song sou su suan sui sun suo ta tai tan tang tao te teng ti
    tian tiao tie ting tong tou tu tuan tui tun tuo wa wai wan wang wei wen weng wo wu xi xia
    xian xiang xiao xie xin xing xiong xiu xu xuan xue xun ya yan yang yao ye yi yin ying yo
    yong you yu yuan yue yun za zai zan zang zao ze zei zen zeng zha zhai zhan zhang zhao zhe
    zhei zhen zheng zhi zhong zhou zhu zhua zhuai zhuan zhuang zhui zhun zhuo zi zong zou zu
    zuan zui zun zuo
"""
#: Tone-less pinyin syllables (ü written "v"), as read by pypinyin for the characters of names.
#: Interjection-only readings (hm, hng, m, n, ng, ê) are left out so that they cannot split a
#: word in odd places.
PINYIN_SYLLABLES = frozenset(_SYLLABLE_LIST.split())

#: How ü is typed where there is no ü key: passports write 吕 "LYU" (since 2012), and "lue" /
#: "nue" are unambiguous because plain "lue" / "nue" are not syllables.
_SYLLABLE_ALIASES = {"lyu": "lv", "nyu": "nv", "lue": "lve", "nue": "nve", "lyue": "lve"}
_LONGEST_SYLLABLE = 6  # zhuang, shuang, chuang
_WORD = re.compile(r"[a-z]+")


@lru_cache(maxsize=65536)
def _segment_word(word: str) -> tuple[str, ...]:
    """Split a compact pinyin word into syllables; a word that is not pinyin ("smith") stays whole.

    Compact pinyin is ambiguous: "xian" is 先 (xian) or 西安 (xi'an), "nana" is na'na or
    nan'a.  Pinyin orthography (《汉语拼音正词法基本规则》) writes an apostrophe before a
    syllable starting with a, o or e inside a word, so the split chosen is the one with the
    fewest such syllables, then the fewest syllables, then the longest first syllable:
    "xian" → xian, "nana" → na na, "mingan" → min gan; "xi'an" or "xi an" forces the split.
    Both sides of a comparison are split the same way, and the comparators test the compact
    string first, so the choice only matters for near-homophone and one-syllable levels.
    """
    n = len(word)
    best: list[tuple[int, int, tuple[str, ...]] | None] = [None] * (n + 1)
    best[n] = (0, 0, ())
    for i in range(n - 1, -1, -1):
        for j in range(min(n, i + _LONGEST_SYLLABLE), i, -1):
            rest = best[j]
            piece = _SYLLABLE_ALIASES.get(word[i:j], word[i:j])
            if rest is None or piece not in PINYIN_SYLLABLES:
                continue
            vowels = rest[0] + (i > 0 and piece[0] in "aoe")
            found = best[i]
            if found is None or (vowels, rest[1] + 1) < found[:2]:
                best[i] = (vowels, rest[1] + 1, (piece, *rest[2]))
    first = best[0]
    return first[2] if first is not None else _peel(word)


def _peel(word: str) -> tuple[str, ...]:
    """Longest syllables off the front of a word that is not all pinyin, the rest kept whole:
    a mistyped "zhangwie" still shows its surname (zhang, wie); "smith" stays (smith,)."""
    pieces: list[str] = []
    rest = word
    while rest:
        piece = next(
            (rest[:j] for j in range(min(len(rest) - 1, _LONGEST_SYLLABLE), 0, -1)
             if rest[:j] in PINYIN_SYLLABLES),
            None,
        )  # fmt: skip
        if piece is None:
            break
        pieces.append(piece)
        rest = rest[len(piece) :]
    return (*pieces, rest)


def pinyin_words(text: str) -> tuple[str, ...]:
    """Lower-case Latin words of a typed name, "ü" written "v" ("ZHANG Wei" → zhang, wei)."""
    value = unicodedata.normalize("NFKC", text).lower().replace("ü", "v").replace("u:", "v")
    # Other accents are dropped (José → jose), as keyboards and passports drop them.
    value = "".join(c for c in unicodedata.normalize("NFKD", value) if not unicodedata.combining(c))
    return tuple(_WORD.findall(value))


def segment_pinyin(text: str) -> tuple[str, ...]:
    """Syllables of typed pinyin: "Zhang Weiming" → zhang, wei, ming; "xi'an" → xi, an."""
    return tuple(s for word in pinyin_words(text) for s in _segment_word(word))


@lru_cache(maxsize=65536)
def name_readings(name: str) -> tuple[tuple[str, ...], ...]:
    """The plausible syllable sequences of a name, in Chinese order (family name first).

    Characters (traditional folded to simplified): the reading with the surname table first
    (单田芳 → shan tian fang), then pypinyin's everyday reading when it differs (dan tian
    fang), because clerks type what they hear or what their input method shows.  Latin
    script: the words as given, then with the last word moved to the front, for names
    written given-name first ("Weiming Zhang" → zhang wei ming, "Nana Ouyang" → ou yang na
    na); one run-together word also with its last one or two syllables moved to the front
    ("jialanhuang" → huang jia lan).  Empty when the name has no letters or characters.
    """
    text = unicodedata.normalize("NFKC", name)
    if has_cjk(text):
        chars = "".join(_CJK.findall(to_simplified(text)))
        readings = [tuple(_syllables(chars)), tuple(_plain_name(chars))]
    else:
        words = pinyin_words(text)
        readings = [words, words[-1:] + words[:-1]]
        readings = [tuple(s for w in ws for s in _segment_word(w)) for ws in readings]
        if len(words) == 1 and len(readings[0]) >= 2:
            # One run-together word written given name first ("jialanhuang"): the family
            # name is its last syllable, or its last two (a compound surname).
            syllables = readings[0]
            readings += [syllables[-k:] + syllables[:-k] for k in (1, 2) if len(syllables) > k]
    return tuple(dict.fromkeys(r for r in readings if r))


def name_syllables(name: str) -> tuple[str, ...]:
    """The first of ``name_readings``: 张伟 → zhang, wei; "Wei Zhang" → wei, zhang."""
    readings = name_readings(name)
    return readings[0] if readings else ()


#: Southern (Hunan, Min, Hakka, Cantonese-area) speakers merge hu- with f-: 黄 huang is said
#: fang, 飞 fei and 辉 hui sound alike.  Every hu- syllable folds to its f- partner.
_HU_TO_F = {
    "hu": "fu",
    "hua": "fa",
    "huo": "fo",
    "hui": "fei",
    "huan": "fan",
    "hun": "fen",
    "huang": "fang",
    "huai": "fai",
}
_INITIALS = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j", "q",
             "x", "r", "z", "c", "s")  # fmt: skip
_FOLDED_FINALS = {"ang": "an", "eng": "en", "ing": "in"}


@lru_cache(maxsize=4096)
def fold_syllable(syllable: str) -> str:
    """Fold a syllable over the common accent confusions (near-homophones).

    Initials zh/z, ch/c, sh/s, n/l, and hu-/f- (so huang ~ fang ~ fan ~ huan); finals an/ang,
    en/eng, in/ing after a consonant initial and ying/yin; ü/u after l and n (吕 is typed
    "Lu" on keyboards without ü).  The medial finals uan/uang and ian/iang are not folded:
    王 wang and 万 wan, 杨 yang and 严 yan stay apart.
    """
    s = _HU_TO_F.get(syllable, syllable)
    initial = next((i for i in _INITIALS if s.startswith(i) and len(s) > len(i)), "")
    final = s[len(initial) :]
    initial = {"zh": "z", "ch": "c", "sh": "s", "n": "l"}.get(initial, initial)
    if initial == "l":
        final = final.replace("v", "u")
    if initial:
        final = _FOLDED_FINALS.get(final, final)
    elif final == "ying":
        final = "yin"
    return initial + final


def fold_syllables(syllables: tuple[str, ...]) -> tuple[str, ...]:
    """``fold_syllable`` over a name: 张晨 (zhang, chen) and 詹程 (zhan, cheng) both → zan, cen."""
    return tuple(fold_syllable(s) for s in syllables)
