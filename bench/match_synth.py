"""Synthetic Chinese patient records with known duplicates, for match-quality benchmarks.

``generate(size, seed)`` returns ``size`` ``MatchRecord``s (deterministic for a seed) and the
truth: which entity (person) each record belongs to.  Every entity has one true record; about
a third of the entities also get 1-4 corrupted copies (duplicates), each with the list of
corruptions applied to it.  A few percent of the entities are *hard negatives*: distinct
people that look alike (twins, family members, namesakes born the same day, homophone names).

What the records hold (all made here, no Faker):

* ``name``: a Chinese full name (surname by real frequency, incl. rare readings such as 单 曾
  解 仇 区 查 朴 and compound surnames such as 欧阳 司马 上官 诸葛; given names of one or two
  characters from weighted pools, era-dependent, so that 王伟, 张敏, 李娜 repeat a lot).
  ``given_name``/``family_name`` stay empty, as Chinese hospital systems send one 姓名.
* ``birth_date``: ``YYYY-MM-DD``; ``gender``: GB/T 2261.1 "1"/"2", consistent with the ID.
* ``documents``: one 居民身份证 (Appendix A type ``"01"``), an 18-character GB 11643 number
  (real GB/T 2260 county code + birth date + sequence code, odd for men, + MOD 11-2 check).
* ``phones``: one mobile number; ``address``: province/city/district of an embedded GB/T
  2260 county + street, number and often a compound/building/room; ``area_code``: the
  county of the address (the ID's county for 80 % of people).

Corruption labels (``CORRUPTIONS``) of a duplicate; several may combine, "exact" when none:

======================  ==================================================================
homophone               one character replaced by a same-pinyin character (张伟 → 章伟)
near_homophone          one character replaced by a near homophone (z/zh, c/ch, s/sh, l/n,
                        f/h, an/ang, en/eng, in/ing: 陈 → 程, 林 → 凌)
name_typo               one character replaced by an unrelated character
traditional             the name written in traditional characters (张伟 → 張偉)
pinyin                  the name in pinyin ("Zhang Wei", "zhangwei", "ZHANG WEI")
name_order_swap         pinyin with given name first ("Wei Zhang"); always with "pinyin"
id_typo                 one ID character mistyped (fails the check character)
id_transpose            two adjacent ID characters swapped (fails the check character)
id_legacy15             the 15-digit GB 11643-1989 form of the number (born 19xx only)
id_missing              no document
phone_changed           another phone number
phone_missing           no phone
dob_swap                day and month swapped (only when both are <= 12 and differ)
dob_typo                one birth-date digit changed (the text may be an impossible date)
dob_missing             no birth date
gender_missing          no gender
address_abbrev          address shortened (no province, no city, no building or short
                        province/city names)
address_changed         the person moved: another address (and area code)
address_missing         no address and no area code
======================  ==================================================================

A corrupted ID number is kept with ``MatchDocument.valid`` set from ``check_document``, as a
feed would deliver it (typos and transpositions are always caught by MOD 11-2; a 15-digit
number is valid).

Hard-negative groups (``HARD_NEGATIVE_KINDS``), each of several entities:

* ``twins``: same surname, birth date, ID county, address and phone; different given names;
  ID sequence codes consecutive (n and n+1, or n and n+2 for twins of the same sex);
* ``family``: 2-4 people sharing an address and a phone, different names and birth dates;
* ``common_name``: two people with the same very common name and birth date, all else apart;
* ``homophone_name``: two people with homophone names (张伟 / 张玮) born the same year.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime
import functools
import gc
import itertools
import random
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import ParamSpec, TypeVar

from pypinyin import lazy_pinyin

from ehcmpi.core.matching.record import MatchDocument, MatchRecord
from ehcmpi.terminology.gb11643 import mod11_2_check_char
from ehcmpi.terminology.pinyin import COMPOUND_SURNAMES, SURNAME_READINGS, name_pinyin
from ehcmpi.terminology.validators import check_document

ID_CARD = "01"  # Appendix A: 居民身份证
P = ParamSpec("P")
R = TypeVar("R")


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


CORRUPTIONS = (
    "homophone",
    "near_homophone",
    "name_typo",
    "traditional",
    "pinyin",
    "name_order_swap",
    "id_typo",
    "id_transpose",
    "id_legacy15",
    "id_missing",
    "phone_changed",
    "phone_missing",
    "dob_swap",
    "dob_typo",
    "dob_missing",
    "gender_missing",
    "address_abbrev",
    "address_changed",
    "address_missing",
)
EXACT = "exact"
HARD_NEGATIVE_KINDS = ("twins", "family", "common_name", "homophone_name")

# Birth dates: 1930-01-01 .. 2023-12-31 (so that every number passes the "not in the future"
# check whatever day the benchmark runs).
_FIRST_DAY = datetime.date(1930, 1, 1).toordinal()
_LAST_DAY = datetime.date(2023, 12, 31).toordinal()
_CHILD_FIRST_DAY = datetime.date(2008, 1, 1).toordinal()

# Probability per duplicate.  Name: one of pinyin / traditional / character edits.  ID, phone,
# birth date and address: at most one corruption each (tried in the order listed).
P_PINYIN = 0.07
P_TRADITIONAL = 0.04
P_HOMOPHONE = 0.10
P_NEAR_HOMOPHONE = 0.06
P_NAME_TYPO = 0.05
P_ORDER_SWAP = 0.35  # of the pinyin names
P_ID = (("id_missing", 0.12), ("id_typo", 0.06), ("id_transpose", 0.03), ("id_legacy15", 0.05))
P_PHONE = (("phone_missing", 0.10), ("phone_changed", 0.15))
P_DOB = (("dob_missing", 0.05), ("dob_swap", 0.06), ("dob_typo", 0.06))
P_ADDRESS = (("address_missing", 0.08), ("address_abbrev", 0.16), ("address_changed", 0.06))
P_GENDER_MISSING = 0.04
DUPLICATE_COUNTS = ((1, 0.55), (2, 0.27), (3, 0.12), (4, 0.06))
P_MOVED = 0.20  # lives outside the county of the ID number

# --- reference data -----------------------------------------------------------------------

# Surnames with their share of the population in percent (rounded national statistics),
# followed by rarer ones with special readings and compound surnames at low frequency.
_SURNAMES = """
王 7.12 李 7.00 张 6.74 刘 5.10 陈 4.61 杨 3.22 黄 2.45 赵 2.29 吴 2.05 周 1.91
徐 1.65 孙 1.54 马 1.46 朱 1.35 胡 1.24 郭 1.18 何 1.15 林 1.13 高 1.12 罗 1.09
郑 0.98 梁 0.92 谢 0.87 宋 0.81 唐 0.81 许 0.71 韩 0.69 冯 0.66 邓 0.66 曹 0.64
彭 0.62 曾 0.61 肖 0.58 田 0.55 董 0.53 潘 0.52 袁 0.51 蔡 0.50 蒋 0.50 余 0.49
于 0.48 杜 0.47 叶 0.46 程 0.45 魏 0.44 苏 0.43 吕 0.42 丁 0.41 任 0.41 卢 0.40
姚 0.39 沈 0.38 钟 0.38 姜 0.38 崔 0.37 谭 0.36 陆 0.35 范 0.33 汪 0.33 廖 0.32
石 0.32 金 0.31 韦 0.30 贾 0.30 夏 0.29 付 0.29 方 0.28 邹 0.27 熊 0.27 白 0.27
孟 0.26 秦 0.26 邱 0.26 侯 0.25 江 0.25 尹 0.25 薛 0.24 闫 0.24 段 0.23 雷 0.23
龙 0.22 黎 0.22 史 0.22 陶 0.21 贺 0.21 毛 0.20 郝 0.20 顾 0.20 龚 0.19 邵 0.19
万 0.19 覃 0.18 武 0.18 钱 0.18 戴 0.18 严 0.17 莫 0.17 孔 0.17 向 0.16 常 0.16
汤 0.15 章 0.12 申 0.10 凌 0.06 翟 0.05 单 0.04 缪 0.03 解 0.02 仇 0.02 查 0.02
朴 0.02 区 0.01 欧阳 0.03 司马 0.005 上官 0.005 诸葛 0.003 东方 0.002 皇甫 0.003
"""

_MALE_SINGLE = "伟 强 磊 军 勇 杰 涛 斌 超 明 刚 平 辉 鹏 华 飞 鑫 波 宇 浩 凯 健 俊 帆 帅 旭 宁 龙 林 阳 建 亮 成 峰 斌 坤 晨 博 东 志 忠 军"  # noqa: E501
_FEMALE_SINGLE = "芳 娜 敏 静 丽 艳 娟 霞 燕 玲 婷 颖 洁 琳 雪 慧 倩 红 萍 莉 梅 丹 英 晶 琴 云 莹 欣 璐 薇 月 蓉 兰 琼 玉 凤 蕾 佳 妍 怡 悦 萌 瑶"  # noqa: E501
_MALE_FIRST = "建 志 国 文 明 永 海 晓 俊 子 浩 宇 家 金 德 天 嘉 振 伟 春 立 成 学 少 新 世 东 庆 兴 锦 博 思 一 梓 晨 鹏 荣 正"  # noqa: E501
_MALE_SECOND = "华 明 平 军 强 国 伟 杰 林 峰 波 辉 涛 斌 刚 东 龙 亮 超 宇 轩 豪 然 博 文 成 勇 飞 鹏 磊 生 荣 忠 福 祥 航 鸣 凯 阳 栋 睿 晨 泽 旭"  # noqa: E501
_FEMALE_FIRST = "秀 玉 桂 丽 晓 海 春 美 红 雪 小 佳 欣 雨 子 梓 诗 思 一 婉 淑 慧 静 彩 金 凤 艳 翠 紫 可 雅 梦 晨"  # noqa: E501
_FEMALE_SECOND = "英 兰 珍 芳 华 梅 燕 娟 霞 玲 红 琴 萍 云 丽 敏 婷 涵 怡 琪 妍 萱 颖 悦 彤 洁 雯 蕾 倩 茹 欣 馨 琳 瑶 雪 诺"  # noqa: E501

# Whole two-character given names that were fashionable in an era: (male, female).
_ERA_NAMES = (
    (
        1965,
        "建国 建华 建军 国华 国强 国庆 志明 志强 德明 振华 文华 福生 永明 德华 建平 金生",
        "秀英 桂英 秀兰 玉兰 桂兰 秀珍 凤英 玉珍 玉英 兰英 玉梅 淑珍 秀云 桂芳 翠兰 秀荣",
    ),
    (
        1995,
        "志强 海涛 晓东 建华 俊杰 志刚 海波 建平 晓明 国栋 伟东 文斌 海峰 立新 永刚 剑锋",
        "海燕 丽娟 晓燕 丽华 红梅 春梅 晓红 丽丽 婷婷 艳红 晓丽 秀梅 丽萍 小红 雪梅 春燕",
    ),
    (
        9999,
        "子轩 浩然 宇轩 梓豪 浩宇 俊熙 一鸣 子豪 宇航 博文 皓轩 晨阳 子墨 梓睿 宇泽 沐阳",
        "梓涵 一诺 欣怡 雨涵 子涵 诗涵 梓萱 可馨 思雨 雨欣 紫涵 佳怡 欣妍 梦瑶 雨桐 若曦",
    ),
)

# Characters used only as replacements (homophones, near homophones, typos).
_EXTRA_CHARS = """
章彰樟璋玮炜纬维唯薇卫蔚慰尉为位未围违闽悯民纳呐敬境镜京经精径竞莉俐利立力励厉历方坊舫
宴雁焰彦砚鹃捐隽夏侠峡墙蔷蕾垒君钧均峻骏竣永泳咏涌捷婕滔韬陶桃彬宾滨潮朝巢鸣铭名茗钢纲港
苹凭屏晖徽挥灰朋蓬骅桦雨语羽禹昊皓灏豪恺楷剑鉴凡繁樊序绪煦凝隆珑琳霖淋临扬洋谅诚承城程锋
丰枫绣莹鹰樱盈岚澜蓝玫媚真贞桢亭庭晗含寒宜仪颐琦棋奇淇桐童闻茜如儒新心馨越粤岳宣暄冉柏伯
得智果冬纯筱紫斯丝师依伊震添晋宏洪鸿芸晨臣沉灵玲深增正政征汪皇凰房湖福符傅富武伍柳留牛纽
礼里南男农年连荪少绍州舟照召兆前乾寒韩航杭珊山善闪憎谢泄邱秋球渣扎飘漂欧鸥殴施诗石时史世
"""

_TRADITIONAL = dict(
    pair
    for pair in _words(
        "张張 伟偉 刘劉 陈陳 杨楊 黄黃 赵趙 吴吳 孙孫 马馬 郑鄭 罗羅 谢謝 许許 韩韓 冯馮 邓鄧 叶葉 "
        "苏蘇 吕呂 卢盧 钟鍾 陆陸 贾賈 龙龍 顾顧 龚龔 万萬 钱錢 严嚴 丽麗 红紅 军軍 华華 兰蘭 凤鳳 "
        "国國 东東 刚剛 辉輝 飞飛 鹏鵬 艳艷 云雲 宁寧 涛濤 强強 丰豐 胜勝 杰傑 荣榮 贵貴 庆慶 银銀 "
        "宝寶 进進 兴興 凯凱 颖穎 阳陽 鸿鴻 汉漢 伦倫 晓曉 岚嵐 静靜 达達 义義 卫衛 书書 庄莊 纪紀 "
        "韦韋 邹鄒 闫閆 贺賀 谭譚 蒋蔣 汤湯 欧歐 诸諸 齐齊 乔喬 单單 区區 洁潔 莹瑩 琼瓊 瑶瑤 学學 "
        "锦錦 轩軒 帅帥 诗詩 鸣鳴 栋棟 诺諾 欢歡 梦夢 泽澤 睿睿 广廣 龄齡 凤鳳 缪繆 闻聞 亲親 "
        "陈陳 长長 门門 马馬 鱼魚 鸟鳥 乐樂 爱愛 红紅 绿綠 丝絲 纬緯 维維 玮瑋 炜煒 韬韜 滨濱 "
        "钧鈞 骏駿 竣竣 铭銘 钢鋼 纲綱 苹蘋 晖暉 骅驊 桦樺 灏灝 恺愷 剑劍 鉴鑒 绪緒 隆隆 珑瓏 "
        "琳琳 霖霖 扬揚 洋洋 谅諒 诚誠 锋鋒 枫楓 绣繡 鹰鷹 樱櫻 岚嵐 澜瀾 蓝藍 贞貞 桢楨 仪儀 "
        "颐頤 儒儒 馨馨 越越 粤粵 岳岳 宣宣 伯伯 冬冬 纯純 师師 添添 晋晉 宏宏 洪洪 芸蕓 臣臣 "
        "灵靈 玲玲 增增 汪汪 皇皇 凰凰 湖湖 傅傅 伍伍 纽紐 礼禮 里裡 农農 年年 连連 荪蓀 绍紹 "
        "闽閩 悯憫 纳納 呐吶 敬敬 镜鏡 经經 径徑 竞競 俐俐 励勵 厉厲 历歷 坊坊 舫舫 宴宴 雁雁 "
        "砚硯 鹃鵑 隽雋 侠俠 峡峽 墙牆 蔷薔 垒壘 泳泳 咏詠 涌湧 婕婕 滔滔 巢巢 茗茗 港港 凭憑 "
        "挥揮 灰灰 朋朋 蓬蓬 语語 禹禹 昊昊 凡凡 繁繁 樊樊 序序 煦煦 凝凝 临臨 淋淋 "
    )
    if pair[0] != pair[1]
)
_TRADITIONAL_TABLE = str.maketrans({s: t for s, t in _TRADITIONAL.items()})

_PROVINCES = {
    "11": ("北京市", "北京"),
    "12": ("天津市", "天津"),
    "13": ("河北省", "河北"),
    "14": ("山西省", "山西"),
    "15": ("内蒙古自治区", "内蒙古"),
    "21": ("辽宁省", "辽宁"),
    "22": ("吉林省", "吉林"),
    "23": ("黑龙江省", "黑龙江"),
    "31": ("上海市", "上海"),
    "32": ("江苏省", "江苏"),
    "33": ("浙江省", "浙江"),
    "34": ("安徽省", "安徽"),
    "35": ("福建省", "福建"),
    "36": ("江西省", "江西"),
    "37": ("山东省", "山东"),
    "41": ("河南省", "河南"),
    "42": ("湖北省", "湖北"),
    "43": ("湖南省", "湖南"),
    "44": ("广东省", "广东"),
    "45": ("广西壮族自治区", "广西"),
    "46": ("海南省", "海南"),
    "50": ("重庆市", "重庆"),
    "51": ("四川省", "四川"),
    "52": ("贵州省", "贵州"),
    "53": ("云南省", "云南"),
    "54": ("西藏自治区", "西藏"),
    "61": ("陕西省", "陕西"),
    "62": ("甘肃省", "甘肃"),
    "63": ("青海省", "青海"),
    "64": ("宁夏回族自治区", "宁夏"),
    "65": ("新疆维吾尔自治区", "新疆"),
}

# GB/T 2260 county-level codes: "CCCC city-name DDname DDname ..." ("-": a municipality's
# districts, no city level).
_AREAS = """
1101 - 01东城区 02西城区 05朝阳区 06丰台区 07石景山区 08海淀区 09门头沟区 11房山区 12通州区
1101 - 13顺义区 14昌平区 15大兴区 16怀柔区 17平谷区 18密云区 19延庆区
1201 - 01和平区 02河东区 03河西区 04南开区 05河北区 06红桥区 10东丽区 11西青区 12津南区 13北辰区
1201 - 14武清区 15宝坻区 16滨海新区
1301 石家庄市 02长安区 04桥西区 05新华区 07井陉矿区 08裕华区 09藁城区 10鹿泉区 11栾城区
1302 唐山市 02路南区 03路北区 04古冶区 05开平区 07丰南区 08丰润区
1304 邯郸市 02邯山区 03丛台区 04复兴区
1306 保定市 02竞秀区 06莲池区
1309 沧州市 02新华区 03运河区
1310 廊坊市 02安次区 03广阳区
1401 太原市 05小店区 06迎泽区 07杏花岭区 08尖草坪区 09万柏林区 10晋源区
1402 大同市 13平城区 14云冈区
1407 晋中市 02榆次区
1501 呼和浩特市 02新城区 03回民区 04玉泉区 05赛罕区
1502 包头市 02东河区 03昆都仑区 04青山区
1504 赤峰市 02红山区
2101 沈阳市 02和平区 03沈河区 04大东区 05皇姑区 06铁西区 11苏家屯区 12浑南区 13沈北新区 14于洪区
2102 大连市 02中山区 03西岗区 04沙河口区 11甘井子区 12旅顺口区 13金州区
2103 鞍山市 02铁东区 03铁西区
2106 丹东市 02元宝区 03振兴区
2201 长春市 02南关区 03宽城区 04朝阳区 05二道区 06绿园区 12双阳区 13九台区
2202 吉林市 02昌邑区 03龙潭区 04船营区 11丰满区
2224 延边朝鲜族自治州 01延吉市
2301 哈尔滨市 02道里区 03南岗区 04道外区 08平房区 09松北区 10香坊区 11呼兰区
2302 齐齐哈尔市 02龙沙区 03建华区
2306 大庆市 02萨尔图区 03龙凤区 04让胡路区
3101 - 01黄浦区 04徐汇区 05长宁区 06静安区 07普陀区 09虹口区 10杨浦区 12闵行区 13宝山区 14嘉定区
3101 - 15浦东新区 16金山区 17松江区 18青浦区 20奉贤区 51崇明区
3201 南京市 02玄武区 04秦淮区 05建邺区 06鼓楼区 11浦口区 13栖霞区 14雨花台区 15江宁区 16六合区
3201 南京市 17溧水区 18高淳区
3202 无锡市 05锡山区 06惠山区 11滨湖区 13梁溪区 14新吴区 81江阴市 82宜兴市
3203 徐州市 02鼓楼区 03云龙区 05贾汪区 11泉山区 12铜山区
3204 常州市 02天宁区 04钟楼区 11新北区 12武进区 13金坛区
3205 苏州市 05虎丘区 06吴中区 07相城区 08姑苏区 09吴江区 81常熟市 82张家港市 83昆山市 85太仓市
3206 南通市 12通州区 13崇川区
3208 淮安市 03淮安区 12清江浦区
3209 盐城市 02亭湖区 03盐都区
3210 扬州市 02广陵区 03邗江区
3211 镇江市 02京口区 11润州区
3301 杭州市 02上城区 05拱墅区 06西湖区 08滨江区 09萧山区 10余杭区 11富阳区 12临安区 13临平区
3301 杭州市 14钱塘区
3302 宁波市 03海曙区 05江北区 06北仑区 11镇海区 12鄞州区 13奉化区 81余姚市 82慈溪市
3303 温州市 02鹿城区 03龙湾区 04瓯海区 05洞头区 81瑞安市 82乐清市
3304 嘉兴市 02南湖区 11秀洲区
3305 湖州市 02吴兴区 03南浔区
3306 绍兴市 02越城区 03柯桥区 04上虞区 81诸暨市
3307 金华市 02婺城区 03金东区 82义乌市 83东阳市
3310 台州市 02椒江区 03黄岩区 04路桥区
3401 合肥市 02瑶海区 03庐阳区 04蜀山区 11包河区 21长丰县 22肥东县 23肥西县
3402 芜湖市 02镜湖区 07鸠江区
3403 蚌埠市 02龙子湖区 03蚌山区
3412 阜阳市 02颍州区
3415 六安市 02金安区
3501 福州市 02鼓楼区 03台江区 04仓山区 05马尾区 11晋安区 12长乐区
3502 厦门市 03思明区 05海沧区 06湖里区 11集美区 12同安区 13翔安区
3503 莆田市 02城厢区 03涵江区
3505 泉州市 02鲤城区 03丰泽区 04洛江区 81石狮市 82晋江市 83南安市
3506 漳州市 02芗城区
3601 南昌市 02东湖区 03西湖区 04青云谱区 11青山湖区 12新建区
3604 九江市 02濂溪区 03浔阳区
3607 赣州市 02章贡区 03南康区 04赣县区
3609 宜春市 02袁州区
3611 上饶市 02信州区
3701 济南市 02历下区 03市中区 04槐荫区 05天桥区 12历城区 13长清区 14章丘区
3702 青岛市 02市南区 03市北区 11黄岛区 12崂山区 13李沧区 14城阳区 15即墨区
3703 淄博市 02淄川区 03张店区
3706 烟台市 02芝罘区 11福山区 12牟平区 13莱山区
3707 潍坊市 02潍城区 03寒亭区 04坊子区 05奎文区
3708 济宁市 11任城区
3709 泰安市 02泰山区
3710 威海市 02环翠区
3713 临沂市 02兰山区 11罗庄区 12河东区
3714 德州市 02德城区
3715 聊城市 02东昌府区
3717 菏泽市 02牡丹区
4101 郑州市 02中原区 03二七区 04管城回族区 05金水区 06上街区 08惠济区 22中牟县 81巩义市 82荥阳市
4101 郑州市 83新密市 84新郑市 85登封市
4102 开封市 02龙亭区 03顺河回族区 04鼓楼区 05禹王台区
4103 洛阳市 02老城区 03西工区 04瀍河回族区 05涧西区 11洛龙区
4104 平顶山市 02新华区 03卫东区
4105 安阳市 02文峰区 03北关区
4107 新乡市 02红旗区 03卫滨区
4108 焦作市 02解放区
4110 许昌市 02魏都区
4113 南阳市 02宛城区 03卧龙区
4114 商丘市 02梁园区 03睢阳区
4115 信阳市 02浉河区 03平桥区
4116 周口市 02川汇区
4117 驻马店市 02驿城区
4201 武汉市 02江岸区 03江汉区 04硚口区 05汉阳区 06武昌区 07青山区 11洪山区 12东西湖区 13汉南区
4201 武汉市 14蔡甸区 15江夏区 16黄陂区 17新洲区
4202 黄石市 02黄石港区
4203 十堰市 02茅箭区 03张湾区
4205 宜昌市 02西陵区 03伍家岗区 04点军区
4206 襄阳市 02襄城区 06樊城区 07襄州区
4208 荆门市 02东宝区
4209 孝感市 02孝南区
4210 荆州市 02沙市区 03荆州区
4211 黄冈市 02黄州区
4301 长沙市 02芙蓉区 03天心区 04岳麓区 05开福区 11雨花区 12望城区 21长沙县 81浏阳市 82宁乡市
4302 株洲市 02荷塘区 03芦淞区 04石峰区 11天元区
4303 湘潭市 02雨湖区 04岳塘区
4304 衡阳市 05珠晖区 06雁峰区 07石鼓区 08蒸湘区
4305 邵阳市 02双清区
4306 岳阳市 02岳阳楼区
4307 常德市 02武陵区
4310 郴州市 02北湖区
4312 怀化市 02鹤城区
4401 广州市 03荔湾区 04越秀区 05海珠区 06天河区 11白云区 12黄埔区 13番禺区 14花都区 15南沙区
4401 广州市 17从化区 18增城区
4403 深圳市 03罗湖区 04福田区 05南山区 06宝安区 07龙岗区 08盐田区 09龙华区 10坪山区 11光明区
4404 珠海市 02香洲区 03斗门区 04金湾区
4405 汕头市 07龙湖区 11金平区 12濠江区 13潮阳区 14潮南区 15澄海区
4406 佛山市 04禅城区 05南海区 06顺德区 07三水区 08高明区
4407 江门市 03蓬江区 04江海区 05新会区
4408 湛江市 02赤坎区 03霞山区
4409 茂名市 02茂南区
4412 肇庆市 02端州区
4413 惠州市 02惠城区 03惠阳区
4414 梅州市 02梅江区
4416 河源市 02源城区
4417 阳江市 02江城区
4418 清远市 02清城区
4451 潮州市 02湘桥区
4452 揭阳市 02榕城区
4501 南宁市 02兴宁区 03青秀区 05江南区 07西乡塘区 08良庆区 09邕宁区
4502 柳州市 02城中区 03鱼峰区 04柳南区 05柳北区
4503 桂林市 02秀峰区 03叠彩区 04象山区 05七星区
4505 北海市 02海城区
4509 玉林市 02玉州区
4601 海口市 05秀英区 06龙华区 07琼山区 08美兰区
4602 三亚市 02海棠区 03吉阳区 04天涯区 05崖州区
5001 - 01万州区 02涪陵区 03渝中区 04大渡口区 05江北区 06沙坪坝区 07九龙坡区 08南岸区 09北碚区
5001 - 10綦江区 11大足区 12渝北区 13巴南区 14黔江区 15长寿区 16江津区 17合川区 18永川区
5101 成都市 04锦江区 05青羊区 06金牛区 07武侯区 08成华区 12龙泉驿区 13青白江区 14新都区 15温江区
5101 成都市 16双流区 17郫都区
5103 自贡市 02自流井区
5105 泸州市 02江阳区
5106 德阳市 03旌阳区
5107 绵阳市 03涪城区 04游仙区
5109 遂宁市 03船山区
5113 南充市 02顺庆区 03高坪区 04嘉陵区
5115 宜宾市 02翠屏区
5116 广安市 02广安区
5117 达州市 02通川区
5201 贵阳市 02南明区 03云岩区 11花溪区 12乌当区 13白云区 15观山湖区
5202 六盘水市 01钟山区
5203 遵义市 02红花岗区 03汇川区 04播州区
5301 昆明市 02五华区 03盘龙区 11官渡区 12西山区 13东川区 14呈贡区
5303 曲靖市 02麒麟区
5304 玉溪市 02红塔区
5325 红河哈尼族彝族自治州 01个旧市 02开远市 03蒙自市
5329 大理白族自治州 01大理市
5401 拉萨市 02城关区 03堆龙德庆区
6101 西安市 02新城区 03碑林区 04莲湖区 11灞桥区 12未央区 13雁塔区 14阎良区 15临潼区 16长安区
6103 宝鸡市 02渭滨区 03金台区
6104 咸阳市 02秦都区
6105 渭南市 02临渭区
6106 延安市 02宝塔区
6107 汉中市 02汉台区
6108 榆林市 02榆阳区
6201 兰州市 02城关区 03七里河区 04西固区 05安宁区
6205 天水市 02秦州区
6301 西宁市 02城东区 03城中区 04城西区 05城北区
6401 银川市 04兴庆区 05西夏区 06金凤区
6501 乌鲁木齐市 02天山区 03沙依巴克区 04新市区 05水磨沟区
6502 克拉玛依市 03克拉玛依区
"""

_STREETS = _words(
    "人民路 解放路 中山路 建设路 和平路 新华路 胜利路 建国路 文化路 光明路 朝阳路 东风路 青年路 "
    "长江路 黄河路 北京路 南京路 幸福路 友谊路 团结路 工农路 红旗路 学府路 花园路 滨江路 环城路 "
    "迎宾路 府前街 人民大街 解放大道 中山大道 建设大道 金融街 江南大道 延安路 复兴路 长安街 五一路 "
    "八一路 民主路 光华路 科技路 创业路 振兴路 东大街 西大街 南大街 北大街 新村路 站前路 公园路 "
    "体育路 西湖路 湖滨路 翠湖路 东湖路 春熙路 新民路 育才路 健康路"
)
_COMPOUNDS = _words(
    "阳光花园 幸福家园 锦绣华庭 翠湖小区 金色家园 东方明珠苑 紫荆花园 碧桂园 万科城 绿地世纪城 "
    "龙湖花园 和平里小区 建设新村 工人新村 丽景苑 书香门第 华府天地 新城国际 世纪花园 桃源居 "
    "御景湾 名都花园 怡景苑 瑞景家园 金桥小区 教师新村 供电小区 铁路宿舍 水岸名城 香榭丽舍"
)
_MOBILE_PREFIXES = _words(
    "130 131 132 133 134 135 136 137 138 139 150 151 152 153 155 156 157 158 159 166 "
    "173 176 177 178 180 181 182 183 184 185 186 187 188 189 191 198 199"
)


@dataclass(frozen=True, slots=True)
class Area:
    """A GB/T 2260 county-level division and the ways an address may name it."""

    code: str
    province: str
    city: str  # "" for a municipality's district
    district: str
    province_short: str

    @property
    def prefix(self) -> str:
        return self.province + self.city + self.district


def _parse_areas() -> tuple[Area, ...]:
    areas = []
    for line in _AREAS.strip().splitlines():
        city_code, city, *districts = line.split()
        province, short = _PROVINCES[city_code[:2]]
        for item in districts:
            areas.append(
                Area(city_code + item[:2], province, "" if city == "-" else city, item[2:], short)
            )
    return tuple(areas)


AREAS: tuple[Area, ...] = _parse_areas()
AREA_BY_CODE = {area.code: area for area in AREAS}


def _weighted(text: str) -> tuple[tuple[str, ...], list[float]]:
    tokens = text.split()
    names = tuple(tokens[0::2])
    cumulative = list(itertools.accumulate(float(w) for w in tokens[1::2]))
    return names, cumulative


def _zipf(items: str | Sequence[str], exponent: float = 1.0) -> tuple[tuple[str, ...], list[float]]:
    names = tuple(dict.fromkeys(items.split() if isinstance(items, str) else items))
    cumulative = list(
        itertools.accumulate(1.0 / (rank**exponent) for rank in range(1, 1 + len(names)))
    )
    return names, cumulative


SURNAMES, _SURNAME_CUM = _weighted(_SURNAMES)
_SINGLE = {"1": _zipf(_MALE_SINGLE, 0.9), "2": _zipf(_FEMALE_SINGLE, 0.9)}
_FIRST = {"1": _zipf(_MALE_FIRST, 0.9), "2": _zipf(_FEMALE_FIRST, 0.9)}
_SECOND = {"1": _zipf(_MALE_SECOND, 0.9), "2": _zipf(_FEMALE_SECOND, 0.9)}
_ERAS = tuple(
    (until, {"1": _zipf(male, 0.8), "2": _zipf(female, 0.8)}) for until, male, female in _ERA_NAMES
)
_TWIN_FIRST = _words("子 思 一 嘉 佳 家 雨 梓 晓 文 天 欣 浩 宇")


def _given_chars() -> tuple[str, ...]:
    chars: dict[str, None] = {}
    for text in (_MALE_SINGLE, _FEMALE_SINGLE, _MALE_FIRST, _MALE_SECOND, _FEMALE_FIRST):
        chars.update(dict.fromkeys(text.split()))
    chars.update(dict.fromkeys(_FEMALE_SECOND.split()))
    for _, male, female in _ERA_NAMES:
        chars.update(dict.fromkeys(male.replace(" ", "") + female.replace(" ", "")))
    return tuple(chars)


GIVEN_CHARS = _given_chars()


def _universe() -> tuple[str, ...]:
    chars = dict.fromkeys(GIVEN_CHARS)
    for surname in SURNAMES:
        chars.update(dict.fromkeys(surname))
    chars.update(dict.fromkeys(ch for ch in _EXTRA_CHARS if not ch.isspace()))
    return tuple(chars)


_UNIVERSE = _universe()
READING: dict[str, str] = {ch: lazy_pinyin(ch)[0] for ch in _UNIVERSE}
_BY_READING: dict[str, tuple[str, ...]] = {}
for _ch, _reading in READING.items():
    _BY_READING[_reading] = (*_BY_READING.get(_reading, ()), _ch)


def _near_readings(reading: str) -> set[str]:
    """Readings one common dialect confusion away (z/zh, c/ch, s/sh, l/n, f/h, -n/-ng)."""
    out = set()
    head, rest = reading[:2], reading[2:]
    if head in ("zh", "ch", "sh"):
        out.add(reading[0] + rest)
    elif reading[0] in "zcs":
        out.add(reading[0] + "h" + reading[1:])
    if reading[0] == "l":
        out.add("n" + reading[1:])
    elif reading[0] == "n" and len(reading) > 1:
        out.add("l" + reading[1:])
    if reading[0] == "f":
        tail = reading[1:]
        out.add("h" + tail if tail.startswith("u") else "hu" + tail)
        if tail == "ei":
            out.add("hui")
    elif reading.startswith("hu"):
        tail = reading[2:]
        out.add("f" + (tail or "u"))
        if tail == "i":
            out.add("fei")
    if reading.endswith(("ang", "eng", "ing")):
        out.add(reading[:-1])
    elif reading.endswith(("an", "en", "in")):
        out.add(reading + "g")
    out.discard(reading)
    return out


@cache
def homophones(ch: str, reading: str | None = None) -> tuple[str, ...]:
    """Other known characters with the same tone-less reading."""
    key = reading or READING.get(ch) or lazy_pinyin(ch)[0]
    return tuple(other for other in _BY_READING.get(key, ()) if other != ch)


@cache
def near_homophones(ch: str, reading: str | None = None) -> tuple[str, ...]:
    """Known characters whose reading is one dialect confusion away (陈 → 程 成 城 …)."""
    key = reading or READING.get(ch) or lazy_pinyin(ch)[0]
    found: list[str] = []
    for near in sorted(_near_readings(key)):
        found.extend(other for other in _BY_READING.get(near, ()) if other != ch)
    return tuple(found)


def to_traditional(text: str) -> str:
    """Traditional characters for the simplified ones the generator uses."""
    return text.translate(_TRADITIONAL_TABLE)


def split_name(name: str) -> tuple[str, str]:
    """(surname, given name) of a generated Chinese name."""
    if len(name) > 2 and name[:2] in COMPOUND_SURNAMES:
        return name[:2], name[2:]
    return name[:1], name[1:]


def surname_reading(ch: str) -> str:
    """Reading of a one-character surname (曾 zeng, 覃 qin), else the everyday reading."""
    special = SURNAME_READINGS.get(ch)
    if special is not None and len(special) == 1:
        return special[0]
    return READING.get(ch) or lazy_pinyin(ch)[0]


# --- the data set -------------------------------------------------------------------------


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside: building millions of small containers next to a
    million live records otherwise spends most of its time in full collections."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _without_gc(function: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with gc_paused():
            return function(*args, **kwargs)

    return wrapper


@dataclass(frozen=True, slots=True)
class HardNegativeGroup:
    """Distinct entities that look alike and must not be linked."""

    kind: str
    entities: tuple[int, ...]


@dataclass
class SynthDataset:
    """Records (sorted by key) and their ground truth.

    ``entity_of`` maps every record key to its entity (person) id; ``originals`` maps every
    entity to the key of its true (uncorrupted) record; ``corruptions`` maps the key of every
    duplicate to its corruption labels (``("exact",)`` when none); true records are not in it.
    """

    records: list[MatchRecord]
    entity_of: dict[str, int]
    originals: dict[int, str]
    corruptions: dict[str, tuple[str, ...]]
    hard_negative_groups: list[HardNegativeGroup]
    seed: int

    def by_key(self) -> dict[str, MatchRecord]:
        return {record.key: record for record in self.records}

    @_without_gc
    def clusters(self) -> dict[int, list[str]]:
        """Entity id → keys of its records (true record first)."""
        groups: dict[int, list[str]] = {entity: [key] for entity, key in self.originals.items()}
        for key in self.corruptions:
            groups[self.entity_of[key]].append(key)
        return groups

    @_without_gc
    def true_pairs(self) -> set[tuple[str, str]]:
        """All pairs of records of the same entity, as ordered ``(a, b)`` tuples, a < b."""
        pairs: set[tuple[str, str]] = set()
        for keys in self.clusters().values():
            if len(keys) > 1:
                pairs.update(itertools.combinations(sorted(keys), 2))
        return pairs

    @_without_gc
    def pair_labels(self) -> dict[tuple[str, str], frozenset[str]]:
        """True pair → union of the corruption labels of its duplicate(s)."""
        labels: dict[tuple[str, str], frozenset[str]] = {}
        unions: dict[tuple[tuple[str, ...], tuple[str, ...]], frozenset[str]] = {}
        of = self.corruptions.get
        for keys in self.clusters().values():
            for a, b in itertools.combinations(sorted(keys), 2):
                both = (of(a, ()), of(b, ()))
                union = unions.get(both)
                if union is None:
                    union = unions[both] = frozenset(both[0] + both[1])
                labels[(a, b)] = union
        return labels

    @_without_gc
    def hard_negative_pairs(self, kind: str | None = None) -> set[tuple[str, str]]:
        """Record pairs across the entities of hard-negative groups (all kinds, or one)."""
        clusters = self.clusters()
        pairs: set[tuple[str, str]] = set()
        for group in self.hard_negative_groups:
            if kind is not None and group.kind != kind:
                continue
            for left, right in itertools.combinations(group.entities, 2):
                for a in clusters[left]:
                    for b in clusters[right]:
                        pairs.add((a, b) if a < b else (b, a))
        return pairs

    def label_counts(self) -> Counter[str]:
        """How many duplicates carry each corruption label."""
        return Counter(label for labels in self.corruptions.values() for label in labels)


# --- generation ---------------------------------------------------------------------------


class _Person:
    __slots__ = (
        "address",
        "area",
        "birth",
        "birth_text",
        "building",
        "gender",
        "given",
        "id_number",
        "phone",
        "street",
        "surname",
    )

    def __init__(
        self,
        surname: str,
        given: str,
        gender: str,
        birth: datetime.date,
        id_number: str,
        phone: str,
        area: Area,
        street: str,
        building: str,
    ) -> None:
        self.surname = surname
        self.given = given
        self.gender = gender
        self.birth = birth
        self.birth_text = birth.isoformat()
        self.id_number = id_number
        self.phone = phone
        self.area = area
        self.street = street
        self.building = building
        self.address = area.prefix + street + building

    @property
    def name(self) -> str:
        return self.surname + self.given


class _Generator:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used_ids: set[str] = set()
        self.used_phones: set[str] = set()

    # --- attributes -------------------------------------------------------------------------

    def pick(self, table: tuple[tuple[str, ...], list[float]]) -> str:
        names, cumulative = table
        return names[bisect.bisect(cumulative, self.rng.random() * cumulative[-1])]

    def surname(self) -> str:
        return self.pick((SURNAMES, _SURNAME_CUM))

    def gender(self) -> str:
        return "1" if self.rng.random() < 0.5 else "2"

    def birth(self) -> datetime.date:
        rng = self.rng
        first = _CHILD_FIRST_DAY if rng.random() < 0.12 else _FIRST_DAY
        return datetime.date.fromordinal(rng.randint(first, _LAST_DAY))

    def given(self, gender: str, year: int) -> str:
        rng = self.rng
        single = 0.35 if year < 1970 else 0.25 if year < 1990 else 0.10
        draw = rng.random()
        if draw < single:
            return self.pick(_SINGLE[gender])
        if draw < single + 0.25:
            for until, tables in _ERAS:
                if year < until:
                    return self.pick(tables[gender])
        first, second = self.pick(_FIRST[gender]), self.pick(_SECOND[gender])
        while second == first and (gender == "1" or rng.random() < 0.7):
            second = self.pick(_SECOND[gender])  # 婷婷 yes, 国国 no
        return first + second

    def area(self) -> Area:
        return AREAS[self.rng.randrange(len(AREAS))]

    def id_number(self, area: Area, birth: datetime.date, gender: str) -> str:
        base = area.code + birth.strftime("%Y%m%d")
        while True:
            sequence = 2 * self.rng.randrange(50, 500) + (1 if gender == "1" else 0)
            first17 = f"{base}{sequence:03d}"
            if first17 not in self.used_ids:
                self.used_ids.add(first17)
                return first17 + mod11_2_check_char(first17)

    def twin_numbers(self, area: Area, birth: datetime.date, genders: tuple[str, str]) -> list[str]:
        base = area.code + birth.strftime("%Y%m%d")
        step = 2 if genders[0] == genders[1] else 1
        while True:
            first = 2 * self.rng.randrange(50, 498) + (1 if genders[0] == "1" else 0)
            candidates = [f"{base}{first:03d}", f"{base}{first + step:03d}"]
            if not any(c in self.used_ids for c in candidates):
                self.used_ids.update(candidates)
                return [c + mod11_2_check_char(c) for c in candidates]

    def phone(self) -> str:
        rng = self.rng
        while True:
            number = rng.choice(_MOBILE_PREFIXES) + f"{rng.randrange(100_000_000):08d}"
            if number not in self.used_phones:
                self.used_phones.add(number)
                return number

    def street(self) -> tuple[str, str]:
        rng = self.rng
        street = f"{rng.choice(_STREETS)}{rng.randint(1, 299)}号"
        if rng.random() < 0.6:
            floor = rng.randint(1, 18)
            building = (
                f"{rng.choice(_COMPOUNDS)}{rng.randint(1, 30)}栋{rng.randint(1, 4)}单元"
                f"{floor}{rng.randint(1, 4):02d}室"
            )
        else:
            building = ""
        return street, building

    def person(
        self,
        *,
        surname: str | None = None,
        given: str | None = None,
        gender: str | None = None,
        birth: datetime.date | None = None,
        id_area: Area | None = None,
        id_number: str | None = None,
        home: _Person | None = None,
    ) -> _Person:
        """A new person; ``home`` shares its address and phone with them."""
        gender = gender or self.gender()
        birth = birth or self.birth()
        id_area = id_area or self.area()
        if home is not None:
            area, street, building, phone = home.area, home.street, home.building, home.phone
        else:
            area = id_area if self.rng.random() >= P_MOVED else self.area()
            street, building = self.street()
            phone = self.phone()
        return _Person(
            surname or self.surname(),
            given or self.given(gender, birth.year),
            gender,
            birth,
            id_number or self.id_number(id_area, birth, gender),
            phone,
            area,
            street,
            building,
        )

    # --- hard negatives ---------------------------------------------------------------------

    def twins(self) -> list[_Person]:
        rng = self.rng
        genders = (self.gender(), self.gender())
        birth = self.birth()
        surname = self.surname()
        id_area = self.area()
        numbers = self.twin_numbers(id_area, birth, genders)
        if rng.random() < 0.5:  # 子轩 / 子涵: the same first character
            first = rng.choice(_TWIN_FIRST)
            givens = [first + self.pick(_SECOND[g]) for g in genders]
        else:
            givens = [self.given(g, birth.year) for g in genders]
        while givens[1] == givens[0]:
            givens[1] = self.given(genders[1], birth.year)
        one = self.person(
            surname=surname,
            given=givens[0],
            gender=genders[0],
            birth=birth,
            id_area=id_area,
            id_number=numbers[0],
        )
        two = self.person(
            surname=surname,
            given=givens[1],
            gender=genders[1],
            birth=birth,
            id_area=id_area,
            id_number=numbers[1],
            home=one,
        )
        return [one, two]

    def family(self) -> list[_Person]:
        """Parents and 0-2 children at one address with one phone; names and births differ."""
        rng = self.rng
        father_birth = datetime.date.fromordinal(
            rng.randint(_FIRST_DAY + 3000, _LAST_DAY - 20 * 365)
        )
        father = self.person(gender="1", birth=father_birth)
        mother_birth = self._shift(father_birth, rng.choice((-1, 1)) * rng.randint(30, 5 * 365))
        mother_area = father.area if rng.random() < 0.6 else None
        members = [father]
        self._add_member(members, surname=None, gender="2", birth=mother_birth, id_area=mother_area)
        for _ in range(rng.choice((0, 1, 1, 2))):
            child_birth = self._shift(mother_birth, rng.randint(22 * 365, 36 * 365))
            if child_birth.toordinal() > _LAST_DAY:
                break
            surname = father.surname if rng.random() < 0.9 else members[1].surname
            self._add_member(
                members, surname=surname, gender=None, birth=child_birth, id_area=father.area
            )
        rng.shuffle(members)
        return members

    def _add_member(
        self,
        members: list[_Person],
        *,
        surname: str | None,
        gender: str | None,
        birth: datetime.date,
        id_area: Area | None,
    ) -> None:
        if any(member.birth == birth for member in members):
            return
        while True:
            member = self.person(
                surname=surname, gender=gender, birth=birth, id_area=id_area, home=members[0]
            )
            if all(other.name != member.name for other in members):
                members.append(member)
                return
            self.used_ids.discard(member.id_number[:17])

    def common_name(self) -> list[_Person]:
        rng = self.rng
        gender = self.gender()
        surname = SURNAMES[rng.randrange(5)]
        names, _ = _SINGLE[gender]
        given = names[rng.randrange(4)]
        birth = self.birth()
        return [self.person(surname=surname, given=given, gender=gender, birth=birth) for _ in "ab"]

    def homophone_name(self) -> list[_Person]:
        rng = self.rng
        while True:
            first = self.person()
            name = self._sound_alike(first.surname, first.given)
            if name is not None:
                break
        surname, given = name
        birth = datetime.date(first.birth.year, 1, 1).toordinal() + rng.randrange(365)
        gender = first.gender if rng.random() < 0.8 else self.gender()
        second = self.person(
            surname=surname,
            given=given,
            gender=gender,
            birth=datetime.date.fromordinal(min(birth, _LAST_DAY)),
        )
        return [first, second]

    def _sound_alike(self, surname: str, given: str) -> tuple[str, str] | None:
        rng = self.rng
        positions = list(range(len(surname) + len(given)))
        rng.shuffle(positions)
        near = rng.random() < 0.3
        for position in positions:
            replaced = self._replace_sound(surname, given, position, near)
            if replaced is not None:
                return replaced
        return None

    def _replace_sound(
        self, surname: str, given: str, position: int, near: bool
    ) -> tuple[str, str] | None:
        """Replace one character by a (near) homophone; a surname as a surname is read."""
        text = surname + given
        ch = text[position]
        if position == 0 and len(surname) == 1:
            reading = surname_reading(ch)
            wanted = _near_readings(reading) if near else {reading}
            candidates = near_homophones(ch, reading) if near else homophones(ch, reading)
            options = tuple(c for c in candidates if surname_reading(c) in wanted)
        else:
            options = near_homophones(ch) if near else homophones(ch)
        if not options:
            return None
        new = text[:position] + self.rng.choice(options) + text[position + 1 :]
        return new[: len(surname)], new[len(surname) :]

    @staticmethod
    def _shift(day: datetime.date, days: int) -> datetime.date:
        return datetime.date.fromordinal(max(_FIRST_DAY, day.toordinal() + days))

    # --- duplicates -------------------------------------------------------------------------

    def duplicate(self, p: _Person, key: str) -> tuple[MatchRecord, tuple[str, ...]]:
        rng = self.rng
        labels: list[str] = []
        name = self._name(p, labels)

        documents: tuple[MatchDocument, ...] = (MatchDocument(ID_CARD, p.id_number, True),)
        kind = _draw(rng, P_ID)
        if kind == "id_missing":
            documents = ()
            labels.append(kind)
        elif kind is not None:
            number = self._corrupt_id(p, kind)
            if number is not None:
                documents = (MatchDocument(ID_CARD, number, check_document(ID_CARD, number).valid),)
                labels.append(kind)

        phones: tuple[str, ...] = (p.phone,)
        kind = _draw(rng, P_PHONE)
        if kind == "phone_missing":
            phones = ()
            labels.append(kind)
        elif kind == "phone_changed":
            phones = (self.phone(),)
            labels.append(kind)

        birth: str | None = p.birth_text
        kind = _draw(rng, P_DOB)
        if kind == "dob_missing":
            birth = None
            labels.append(kind)
        elif kind == "dob_swap":
            if p.birth.day <= 12 and p.birth.day != p.birth.month:
                birth = f"{p.birth.year:04d}-{p.birth.day:02d}-{p.birth.month:02d}"
                labels.append(kind)
        elif kind == "dob_typo":
            position = rng.choice((2, 3, 3, 5, 6, 6, 8, 9, 9))
            digit = rng.choice([d for d in "0123456789" if d != p.birth_text[position]])
            birth = p.birth_text[:position] + digit + p.birth_text[position + 1 :]
            labels.append(kind)

        address: str | None = p.address
        area_code: str | None = p.area.code
        kind = _draw(rng, P_ADDRESS)
        if kind == "address_missing":
            address = area_code = None
            labels.append(kind)
        elif kind == "address_abbrev":
            address = self._abbreviate(p)
            labels.append(kind)
        elif kind == "address_changed":
            area = p.area if rng.random() < 0.3 else self.area()
            street, building = self.street()
            address, area_code = area.prefix + street + building, area.code
            labels.append(kind)

        gender: str | None = p.gender
        if rng.random() < P_GENDER_MISSING:
            gender = None
            labels.append("gender_missing")

        record = MatchRecord(
            key=key,
            name=name,
            birth_date=birth,
            gender=gender,
            documents=documents,
            phones=phones,
            address=address,
            area_code=area_code,
        )
        return record, tuple(labels) or (EXACT,)

    def _name(self, p: _Person, labels: list[str]) -> str:
        rng = self.rng
        draw = rng.random()
        if draw < P_PINYIN:
            return self._pinyin(p, labels)
        if draw < P_PINYIN + P_TRADITIONAL:
            traditional = to_traditional(p.name)
            if traditional != p.name:
                labels.append("traditional")
            return traditional
        surname, given = p.surname, p.given
        for label, probability, near in (
            ("homophone", P_HOMOPHONE, False),
            ("near_homophone", P_NEAR_HOMOPHONE, True),
        ):
            if rng.random() < probability:
                position = self._name_position(surname, given)
                replaced = self._replace_sound(surname, given, position, near)
                if replaced is None:  # try the other characters
                    replaced = self._sound_alike_at(surname, given, near)
                if replaced is not None:
                    surname, given = replaced
                    labels.append(label)
        if rng.random() < P_NAME_TYPO:
            position = self._name_position(surname, given)
            text = surname + given
            ch = text[position]
            new = ch
            while new == ch or new in homophones(ch) or new in near_homophones(ch):
                new = GIVEN_CHARS[rng.randrange(len(GIVEN_CHARS))]
            text = text[:position] + new + text[position + 1 :]
            surname, given = text[: len(surname)], text[len(surname) :]
            labels.append("name_typo")
        return surname + given

    def _sound_alike_at(self, surname: str, given: str, near: bool) -> tuple[str, str] | None:
        for position in range(len(surname) + len(given)):
            replaced = self._replace_sound(surname, given, position, near)
            if replaced is not None:
                return replaced
        return None

    def _name_position(self, surname: str, given: str) -> int:
        rng = self.rng
        if rng.random() < 0.25:
            return rng.randrange(len(surname))
        return len(surname) + rng.randrange(len(given))

    def _pinyin(self, p: _Person, labels: list[str]) -> str:
        rng = self.rng
        syllables = name_pinyin(p.name).split()
        cut = len(SURNAME_READINGS.get(p.surname, p.surname))
        family, given = "".join(syllables[:cut]), "".join(syllables[cut:])
        labels.append("pinyin")
        if rng.random() < P_ORDER_SWAP:
            labels.append("name_order_swap")
            family, given = given, family
        style = rng.random()
        if style < 0.5:
            return f"{family.capitalize()} {given.capitalize()}"
        if style < 0.7:
            return f"{family} {given}".upper()
        if style < 0.85:
            return family + given
        return f"{family} {given}"

    def _corrupt_id(self, p: _Person, kind: str) -> str | None:
        rng = self.rng
        number = p.id_number
        if kind == "id_typo":
            position = rng.randrange(18)
            alphabet = "0123456789X" if position == 17 else "0123456789"
            new = rng.choice([c for c in alphabet if c != number[position]])
            return number[:position] + new + number[position + 1 :]
        if kind == "id_transpose":
            starts = [i for i in range(17) if number[i] != number[i + 1]]
            i = rng.choice(starts)
            return number[:i] + number[i + 1] + number[i] + number[i + 2 :]
        if kind == "id_legacy15":
            if p.birth.year >= 2000:
                return None
            return number[:6] + number[8:17]
        raise ValueError(kind)

    def _abbreviate(self, p: _Person) -> str:
        area = p.area
        options = [
            area.city + area.district + p.street + p.building,  # no province
            area.district + p.street + p.building,  # district onwards
            area.province_short + area.city.removesuffix("市") + area.district + p.street,
        ]
        if p.building:
            options.append(area.prefix + p.street)  # no compound/building/room
        return self.rng.choice(options)


def _draw(rng: random.Random, table: tuple[tuple[str, float], ...]) -> str | None:
    draw = rng.random()
    for label, probability in table:
        if draw < probability:
            return label
        draw -= probability
    return None


@_without_gc
def generate(
    size: int = 100_000,
    seed: int = 0,
    *,
    duplicate_rate: float = 0.35,
    hard_negative_rate: float = 0.02,
) -> SynthDataset:
    """``size`` records of synthetic Chinese patients with duplicates, deterministic by seed.

    ``duplicate_rate``: share of entities that get 1-4 duplicates; ``hard_negative_rate``:
    share of entity groups that are a hard-negative group (twins, family, namesakes born the
    same day, homophone names) rather than one person.  Keys are ``"S"`` + a zero-padded
    number, in an order unrelated to entities; the records come sorted by key.
    """
    if size < 1:
        raise ValueError("size must be at least 1")
    rng = random.Random(seed)
    gen = _Generator(rng)
    slots = list(range(size))
    rng.shuffle(slots)
    width = len(str(size - 1))
    records: list[MatchRecord | None] = [None] * size
    entity_of: dict[str, int] = {}
    originals: dict[int, str] = {}
    corruptions: dict[str, tuple[str, ...]] = {}
    groups: list[HardNegativeGroup] = []
    hard = {
        "twins": gen.twins,
        "family": gen.family,
        "common_name": gen.common_name,
        "homophone_name": gen.homophone_name,
    }
    counts, count_cum = _counts_table()
    emitted = 0
    entity = 0
    while emitted < size:
        kind = HARD_NEGATIVE_KINDS[rng.randrange(4)] if rng.random() < hard_negative_rate else None
        people = hard[kind]() if kind is not None else [gen.person()]
        members: list[int] = []
        for p in people:
            if emitted >= size:
                break
            slot = slots[emitted]
            key = f"S{slot:0{width}d}"
            emitted += 1
            records[slot] = MatchRecord(
                key=key,
                name=p.name,
                birth_date=p.birth_text,
                gender=p.gender,
                documents=(MatchDocument(ID_CARD, p.id_number, True),),
                phones=(p.phone,),
                address=p.address,
                area_code=p.area.code,
            )
            entity_of[key] = entity
            originals[entity] = key
            members.append(entity)
            if rng.random() < duplicate_rate:
                n = counts[bisect.bisect(count_cum, rng.random() * count_cum[-1])]
                for _ in range(min(n, size - emitted)):
                    slot = slots[emitted]
                    key = f"S{slot:0{width}d}"
                    emitted += 1
                    record, labels = gen.duplicate(p, key)
                    records[slot] = record
                    entity_of[key] = entity
                    corruptions[key] = labels
            entity += 1
        if kind is not None and len(members) > 1:
            groups.append(HardNegativeGroup(kind, tuple(members)))
    return SynthDataset(
        records=[record for record in records if record is not None],
        entity_of=entity_of,
        originals=originals,
        corruptions=corruptions,
        hard_negative_groups=groups,
        seed=seed,
    )


def _counts_table() -> tuple[tuple[int, ...], list[float]]:
    counts = tuple(n for n, _ in DUPLICATE_COUNTS)
    return counts, list(itertools.accumulate(w for _, w in DUPLICATE_COUNTS))


def summary(dataset: SynthDataset) -> dict[str, object]:
    """Counts worth printing next to benchmark results."""
    clusters = dataset.clusters()
    sizes = Counter(len(keys) for keys in clusters.values())
    hard = Counter(group.kind for group in dataset.hard_negative_groups)
    by_key = dataset.by_key()
    names = Counter(by_key[key].name for key in dataset.originals.values())
    return {
        "records": len(dataset.records),
        "entities": len(clusters),
        "duplicates": len(dataset.corruptions),
        "entity_sizes": dict(sorted(sizes.items())),
        "true_pairs": sum(n * (n - 1) // 2 * count for n, count in sizes.items()),
        "hard_negative_groups": dict(sorted(hard.items())),
        "hard_negative_entities": sum(len(g.entities) for g in dataset.hard_negative_groups),
        "top_names": names.most_common(10),
        "corruptions": dict(dataset.label_counts().most_common()),
    }


if __name__ == "__main__":
    import sys
    import time

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    started = time.perf_counter()
    data = generate(n, seed=int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    elapsed = time.perf_counter() - started
    print(f"generated {n:,} records in {elapsed:.1f} s")
    for field_name, value in summary(data).items():
        print(f"{field_name}: {value}")
