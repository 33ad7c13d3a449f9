"""Synthetic patients for the benchmarks: patient ``i`` is always the same person.

Every patient has a valid 18-digit 居民身份证 number (GB 11643-1999: a GB/T 2260 county code, a
birth date, a sequence code whose parity is the sex, and the MOD 11-2 check character), a
Chinese name, a mobile number, an address and an ethnicity.  ``i`` is scrambled by a bijection
over the whole number space, so distinct indexes give distinct numbers and consecutive indexes
do not give consecutive numbers.  Disjoint index ranges (``RANGES``) keep the phases of one run
from registering the same person twice.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from urllib.parse import quote

import orjson

from ehcmpi.core.model import (
    Address,
    Demographics,
    DocumentInput,
    RegistrationMode,
    RegistrationRequest,
)
from ehcmpi.terminology.gb11643 import mod11_2_check_char
from ehcmpi.terminology.systems import ETHNICITY_CODESYSTEM

CITIZEN_ID_SYSTEM = "urn:oid:2.16.156.10011.1.3"
EXT_ETHNICITY = "http://ehcmpi.org/fhir/StructureDefinition/ethnicity"

#: Disjoint index ranges: seeded patients first (up to 200 million), then each phase.
RANGES = {
    "seed": 0,
    "inprocess": 200_000_000,
    "warmup": 300_000_000,
    "http": 400_000_000,
    "rate": 500_000_000,
    "workers": 600_000_000,
    "check": 700_000_000,
    "scale": 800_000_000,
}

# GB/T 2260 county-level codes across the provinces: (code, province, city, district).
_COUNTIES = (
    ("110105", "北京市", "北京市", "朝阳区"), ("110108", "北京市", "北京市", "海淀区"),
    ("120101", "天津市", "天津市", "和平区"), ("130102", "河北省", "石家庄市", "长安区"),
    ("140105", "山西省", "太原市", "小店区"), ("150102", "内蒙古自治区", "呼和浩特市", "新城区"),
    ("210102", "辽宁省", "沈阳市", "和平区"), ("220102", "吉林省", "长春市", "南关区"),
    ("230102", "黑龙江省", "哈尔滨市", "道里区"), ("310104", "上海市", "上海市", "徐汇区"),
    ("310115", "上海市", "上海市", "浦东新区"), ("320102", "江苏省", "南京市", "玄武区"),
    ("330106", "浙江省", "杭州市", "西湖区"), ("340104", "安徽省", "合肥市", "蜀山区"),
    ("350203", "福建省", "厦门市", "思明区"), ("360102", "江西省", "南昌市", "东湖区"),
    ("370102", "山东省", "济南市", "历下区"), ("410105", "河南省", "郑州市", "金水区"),
    ("420111", "湖北省", "武汉市", "洪山区"), ("430104", "湖南省", "长沙市", "岳麓区"),
    ("440106", "广东省", "广州市", "天河区"), ("440305", "广东省", "深圳市", "南山区"),
    ("450103", "广西壮族自治区", "南宁市", "青秀区"), ("460105", "海南省", "海口市", "秀英区"),
    ("500103", "重庆市", "重庆市", "渝中区"), ("510107", "四川省", "成都市", "武侯区"),
    ("520102", "贵州省", "贵阳市", "南明区"), ("530102", "云南省", "昆明市", "五华区"),
    ("540102", "西藏自治区", "拉萨市", "城关区"), ("610113", "陕西省", "西安市", "雁塔区"),
    ("620102", "甘肃省", "兰州市", "城关区"),
    ("650102", "新疆维吾尔自治区", "乌鲁木齐市", "天山区"),
)  # fmt: skip

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝"
)
_COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "慕容", "令狐")
_GIVEN = "".join(
    dict.fromkeys(
        "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉建国志宇浩然子涵欣怡梓轩"
        "思远佳琪雨桐一鸣文博晓东海燕春梅嘉怡俊杰婷婷晨阳天佑诗雨宏伟立新建华淑珍凤英秀兰德明"
    )
)
_PHONE_PREFIXES = ("130", "133", "135", "136", "138", "139", "150", "151", "158", "159",
                   "177", "180", "186", "187", "188", "189", "199")  # fmt: skip
_ETHNICITY = ("01",) * 9 + ("03", "05", "07", "08", "11", "15", "16")

# Seeded patients (indexes below RANGES["inprocess"]) take their names from the surnames x 500
# given names (~44,000 distinct names), which stay in ``name_pinyin``'s LRU cache (65,536) while
# seeding (pypinyin costs ~25 us per uncached name).  Patients registered while measuring get
# names from ~470,000 combinations, so the server computes nearly every pinyin afresh.
_SEED_GIVEN = [*_GIVEN, *(a + b for a in _GIVEN for b in _GIVEN if a != b)][:500]
_SEED_NAMES = [(s, g) for s in _SURNAMES for g in _SEED_GIVEN]

_FIRST_DAY = dt.date(1940, 1, 1)
_DAYS = (dt.date(2019, 12, 31) - _FIRST_DAY).days + 1
SPACE = len(_COUNTIES) * _DAYS * 1000  # distinct (county, birth date, sequence) triples
_MULTIPLIER = 2_654_435_761 % SPACE
while math.gcd(_MULTIPLIER, SPACE) != 1:
    _MULTIPLIER += 1
_OFFSET = 123_456_789


@dataclass(frozen=True, slots=True)
class Person:
    index: int
    id_number: str
    name: str
    gender: str  # GB/T 2261.1: "1" male, "2" female
    birth_date: dt.date
    phone: str
    province: str
    city: str
    district: str
    ethnicity: str

    @property
    def fhir_gender(self) -> str:
        return "male" if self.gender == "1" else "female"

    @property
    def address_text(self) -> str:
        return f"{self.province}{self.city}{self.district}人民路{self.index % 999 + 1}号"


def _mix(x: int) -> int:
    """SplitMix64: 64 well-mixed bits from an index (for names, phones, ethnicity)."""
    x = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 31)


def _slot(index: int) -> int:
    if not 0 <= index < SPACE:
        raise ValueError(f"patient index {index} outside 0..{SPACE - 1}")
    return (index * _MULTIPLIER + _OFFSET) % SPACE


def person(index: int) -> Person:
    slot = _slot(index)
    sequence, rest = slot % 1000, slot // 1000
    day, county = rest % _DAYS, rest // _DAYS
    code, province, city, district = _COUNTIES[county]
    birth = _FIRST_DAY + dt.timedelta(days=day)
    first17 = f"{code}{birth:%Y%m%d}{sequence:03d}"
    h = _mix(index)
    if index < RANGES["inprocess"]:
        surname, given = _SEED_NAMES[h % len(_SEED_NAMES)]
    else:
        surname = _COMPOUND_SURNAMES[h % 8] if h % 97 == 0 else _SURNAMES[(h >> 8) % len(_SURNAMES)]
        given = _GIVEN[(h >> 16) % len(_GIVEN)]
        if (h >> 24) % 3:
            given += _GIVEN[(h >> 32) % len(_GIVEN)]
    prefix = _PHONE_PREFIXES[(h >> 56) % len(_PHONE_PREFIXES)]
    return Person(
        index=index,
        id_number=first17 + mod11_2_check_char(first17),
        name=surname + given,
        gender="1" if sequence % 2 else "2",
        birth_date=birth,
        phone=f"{prefix}{(slot * 7 + index) % 10**8:08d}",
        province=province,
        city=city,
        district=district,
        ethnicity=_ETHNICITY[(h >> 4) % len(_ETHNICITY)],
    )


# --- FHIR over HTTP --------------------------------------------------------------------------


def patient_resource(p: Person) -> dict[str, object]:
    """A typical registration: ID card, name, sex, birth date, mobile, address, ethnicity."""
    return {
        "resourceType": "Patient",
        "extension": [
            {
                "url": EXT_ETHNICITY,
                "valueCoding": {"system": ETHNICITY_CODESYSTEM, "code": p.ethnicity},
            }
        ],
        "identifier": [{"system": CITIZEN_ID_SYSTEM, "value": p.id_number}],
        "name": [{"use": "official", "text": p.name}],
        "telecom": [{"system": "phone", "value": p.phone, "use": "mobile"}],
        "gender": p.fhir_gender,
        "birthDate": p.birth_date.isoformat(),
        "address": [
            {
                "text": p.address_text,
                "state": p.province,
                "city": p.city,
                "district": p.district,
                "country": "CN",
            }
        ],
    }


def _head(method: str, target: str, host: str, extra: str = "") -> str:
    return f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n{extra}"


def register_request(index: int, host: str) -> bytes:
    """The raw HTTP/1.1 request ``POST /fhir/Patient`` (keep-alive) for patient ``index``."""
    body = orjson.dumps(patient_resource(person(index)))
    head = _head(
        "POST",
        "/fhir/Patient",
        host,
        "Content-Type: application/fhir+json\r\nAccept: application/fhir+json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n",
    )
    return head.encode() + body


def lookup_target(id_number: str) -> str:
    return "/fhir/Patient?identifier=" + quote(f"{CITIZEN_ID_SYSTEM}|{id_number}", safe=":")


def lookup_request(index: int, host: str) -> bytes:
    """The raw HTTP/1.1 request for the exact lookup of patient ``index`` by ID card number."""
    target = lookup_target(person(index).id_number)
    return _head("GET", target, host, "Accept: application/fhir+json\r\n\r\n").encode()


def read_request(mpi_id: str, host: str) -> bytes:
    """The raw HTTP/1.1 request for the read of one patient by master-index ID."""
    return _head(
        "GET", f"/fhir/Patient/{mpi_id}", host, "Accept: application/fhir+json\r\n\r\n"
    ).encode()


# --- in process ------------------------------------------------------------------------------


def registration_request(index: int) -> RegistrationRequest:
    """What the FHIR adapter hands to ``RegistrationService.register`` for patient ``index``."""
    p = person(index)
    demographics = Demographics(
        name=p.name,
        gender=p.gender,
        birth_date=p.birth_date,
        ethnicity=p.ethnicity,
        phones=(p.phone,),
        addresses=(
            Address(
                text=p.address_text,
                state=p.province,
                city=p.city,
                district=p.district,
                country="CN",
            ),
        ),
    )
    return RegistrationRequest(
        demographics, (DocumentInput("01", p.id_number),), (), RegistrationMode.DIRECT
    )
