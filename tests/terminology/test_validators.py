"""Document-number rules of ehcmpi.terminology.validators (GB 11643-1999, guideline Appendix A).

Valid numbers below were checked by hand: weighted sum of the first 17 digits with weights
7,9,10,5,8,4,2,1,6,3,7,9,10,5,8,4,2, mod 11, mapped through 1,0,X,9,8,7,6,5,4,3,2.
"""

from __future__ import annotations

import datetime

import pytest

from ehcmpi.terminology import (
    DOCUMENT_TYPES,
    DocumentCheck,
    UnknownCodeError,
    check_document,
    cross_check,
    id_number_15_to_18,
    mod11_2_check_char,
    normalize_number,
)

TODAY = datetime.date(2024, 6, 1)
D = datetime.date

# (doc_type, raw input, normalised number, birth date encoded, gender encoded)
VALID = [
    # GB 11643-1999 Appendix A example; sum 167 mod 11 = 2 → X. Female (sequence 002).
    ("01", "11010519491231002X", "11010519491231002X", D(1949, 12, 31), "2"),
    # DESIGN.md EHC-ID test vector.
    ("01", "11010020171225006X", "11010020171225006X", D(2017, 12, 25), "2"),
    # Sum 116 mod 11 = 6 → 6. Male (sequence 001).
    ("01", "110105198001010016", "110105198001010016", D(1980, 1, 1), "1"),
    # Leap day; sum 134 mod 11 = 2 → X.
    ("01", "11010520000229003X", "11010520000229003X", D(2000, 2, 29), "1"),
    # Born today; sum 130 mod 11 = 9 → 3.
    ("01", "110105202406010013", "110105202406010013", D(2024, 6, 1), "1"),
    ("01", "11010519491231002x", "11010519491231002X", D(1949, 12, 31), "2"),
    ("01", "１１０１０５１９４９１２３１００２ｘ", "11010519491231002X", D(1949, 12, 31), "2"),
    ("01", " 110105 19491231\t002X\n", "11010519491231002X", D(1949, 12, 31), "2"),
    ("01", "110105491231002", "11010519491231002X", D(1949, 12, 31), "2"),
    ("02", "11010519491231002X", "11010519491231002X", D(1949, 12, 31), "2"),
    ("02", "110105491231002", "11010519491231002X", D(1949, 12, 31), "2"),
    ("05", "11010519491231002X", "11010519491231002X", D(1949, 12, 31), "2"),
    ("05", "110105491231002", "11010519491231002X", D(1949, 12, 31), "2"),
    ("05", "DL1234567", "DL1234567", None, None),
    # Hong Kong: sum 253 mod 11 = 0 → 1. Female.
    ("09", "810000199408230021", "810000199408230021", D(1994, 8, 23), "2"),
    # Macao: sum 175 mod 11 = 10 → 2. Male.
    ("09", "820000200009100032", "820000200009100032", D(2000, 9, 10), "1"),
    # Taiwan: sum 173 mod 11 = 8 → 4. Male.
    ("09", "830000198501010014", "830000198501010014", D(1985, 1, 1), "1"),
    # Foreign permanent resident 2023: 9 + 11 (Beijing) + 840 (USA) + 19800615 + 00 + 1 + check;
    # sum 304 mod 11 = 7 → 5.
    ("10", "911840198006150015", "911840198006150015", D(1980, 6, 15), "1"),
    ("10", "USA110080061501", "USA110080061501", None, None),
    ("10", "usa110080061501", "USA110080061501", None, None),
    ("06", "H12345678", "H12345678", None, None),
    ("06", "m1234567801", "M1234567801", None, None),
    ("07", "12345678", "12345678", None, None),
    ("07", "1234567890", "1234567890", None, None),
    ("03", "E12345678", "E12345678", None, None),
    ("03", "EA1234567", "EA1234567", None, None),
    ("03", "G12345678", "G12345678", None, None),
    ("03", "c01x00t47", "C01X00T47", None, None),
    ("03", "X1234", "X1234", None, None),
    ("08", "O440123456", "O440123456", None, None),
    ("04", "南字第123456号", "南字第123456号", None, None),
    ("04", "军字第００１２３号", "军字第00123号", None, None),
    ("99", "ABC-123/45", "ABC-123/45", None, None),
]


@pytest.mark.parametrize(("doc_type", "raw", "number", "birth", "gender"), VALID)
def test_valid_numbers(
    doc_type: str, raw: str, number: str, birth: datetime.date | None, gender: str | None
) -> None:
    check = check_document(doc_type, raw, today=TODAY)
    assert check.valid, check.reason
    assert check.reason is None
    assert (check.doc_type, check.number) == (doc_type, number)
    assert (check.birth_date, check.gender) == (birth, gender)


# (doc_type, raw input, Chinese reason text that must appear, English text that must appear)
INVALID = [
    ("01", "", "证件号码为空", "document number is empty"),
    ("01", " \u3000\t", "证件号码为空", "document number is empty"),
    ("03", "", "证件号码为空", "document number is empty"),
    ("01", "1101051949123100", "长度应为18位（或15位旧号码），实际为16位", "got 16"),
    ("01", "11010519491231002X1", "实际为19位", "length must be 18"),
    ("01", "11010519491231002Y", "含有非法字符", "illegal characters"),
    ("01", "1101051949123100X2", "含有非法字符", "illegal characters"),
    ("01", "110105-9491231002X", "含有非法字符", "illegal characters"),
    ("01", "99010519491231002X", "省级行政区划代码 99 无效", "bad province code 99"),
    ("01", "83000019850101001X", "省级行政区划代码 83 无效", "bad province code 83"),
    ("01", "110105194913310021", "出生日期 19491331 不是有效日期", "impossible birth date"),
    ("01", "110105190002290011", "出生日期 19000229 不是有效日期", "impossible birth date"),
    ("01", "110105189912310021", "早于 1900-01-01", "before 1900-01-01"),
    ("01", "110105202406020011", "晚于今天（2024-06-01）", "after today"),
    ("01", "110105194912310021", "校验位错误，应为 X", "check digit mismatch: expected X"),
    ("01", "110105198001010011", "校验位错误，应为 6", "check digit mismatch: expected 6"),
    ("01", "11010549123100A", "15位旧号码应全部为数字", "illegal characters"),
    ("01", "990105491231002", "省级行政区划代码 99 无效", "bad province code"),
    ("01", "110105491331002", "出生日期 19491331 不是有效日期", "impossible birth date"),
    ("02", "110105194912310021", "校验位错误，应为 X", "check digit mismatch: expected X"),
    ("05", "110105194912310021", "校验位错误，应为 X", "check digit mismatch: expected X"),
    ("05", "AB12", "号码格式错误", "6 to 20 letters or digits"),
    ("09", "11010519491231002X", "地址码应为810000（香港）", "got 110105"),
    ("09", "810001199408230021", "地址码应为810000（香港）", "got 810001"),
    ("09", "810000199408230022", "校验位错误，应为 1", "check digit mismatch: expected 1"),
    ("09", "81000019940823002", "长度应为18位，实际为17位", "length must be 18, got 17"),
    ("09", "810000199402300021", "出生日期 19940230 不是有效日期", "impossible birth date"),
    ("09", "81000019940823002A", "含有非法字符", "illegal characters"),
    ("10", "911840198006150016", "校验位错误，应为 5", "check digit mismatch: expected 5"),
    ("10", "811840198006150015", "2023版号码应以9开头", "must start with 9"),
    ("10", "911840198013150015", "出生日期 19801315 不是有效日期", "impossible birth date"),
    ("10", "US1110080061501", "2017版应为3位字母加12位数字", "3 letters followed by 12 digits"),
    ("10", "USA1100800615", "长度应为15位（2017版）或18位（2023版）", "got 13"),
    ("06", "H1234567", "应为H或M加8位或10位数字", "H or M followed by 8 or 10 digits"),
    ("06", "A12345678", "应为H或M加8位或10位数字", "H or M followed by 8 or 10 digits"),
    ("07", "123456789", "应为8位或10位数字", "8 or 10 digits"),
    ("07", "T1234567", "应为8位或10位数字", "8 or 10 digits"),
    ("03", "E123", "应为5至17位字母或数字", "5 to 17 letters or digits"),
    ("03", "E12345678901234567", "应为5至17位字母或数字", "5 to 17 letters or digits"),
    ("03", "E1234-5678", "应为5至17位字母或数字", "5 to 17 letters or digits"),
    ("08", "1234567890", "应为1位字母加9位数字", "1 letter followed by 9 digits"),
    ("08", "O44012345", "应为1位字母加9位数字", "1 letter followed by 9 digits"),
    ("04", "南字第123456号!", "应为1至30位字母、数字或汉字", "Chinese characters"),
    ("04", "南" * 31, "应为1至30位字母、数字或汉字", "Chinese characters"),
    ("99", "A" * 51, "应为1至50个非空白字符", "1 to 50 non-space characters"),
]


@pytest.mark.parametrize(("doc_type", "raw", "zh", "en"), INVALID)
def test_invalid_numbers_say_why(doc_type: str, raw: str, zh: str, en: str) -> None:
    check = check_document(doc_type, raw, today=TODAY)
    assert not check.valid
    assert check.reason is not None
    doc = DOCUMENT_TYPES[doc_type]
    assert check.reason.startswith(f"{doc.name_zh}：")
    assert zh in check.reason
    assert en in check.reason
    assert check.reason.index(zh) < check.reason.index(en), "Chinese comes first"
    assert (check.birth_date, check.gender) == (None, None)


def test_reason_reads_chinese_first_with_english_beside() -> None:
    check = check_document("01", "110105194912310021", today=TODAY)
    assert check.reason == (
        "居民身份证：校验位错误，应为 X (Resident identity card: check digit mismatch: expected X)"
    )


def test_empty_number_reason() -> None:
    check = check_document("08", "", today=TODAY)
    assert check.reason == (
        "出生医学证明：证件号码为空 (Medical certificate of birth: document number is empty)"
    )


def test_invalid_check_keeps_the_normalised_input() -> None:
    check = check_document("01", "１１０１０５１９４９１２３１００２１", today=TODAY)
    assert check.number == "110105194912310021"


GARBAGE = ["\x00", "－－－", "💉", "X" * 200, "１２３", "\u200b", "NULL", "名", "٣٤٥٦٧٨"]


@pytest.mark.parametrize("doc_type", sorted(DOCUMENT_TYPES))
@pytest.mark.parametrize("raw", GARBAGE)
def test_bad_numbers_never_raise(doc_type: str, raw: str) -> None:
    check = check_document(doc_type, raw, today=TODAY)
    assert check.valid == (check.reason is None)


@pytest.mark.parametrize("doc_type", ["01", "02", "05", "07"])
def test_non_ascii_digits_are_not_digits(doc_type: str) -> None:
    # Arabic-Indic digits survive NFKC; they must not pass as ASCII digits.
    assert not check_document(doc_type, "١١٠١٠٥٤٩١٢٣١٠٠٢", today=TODAY).valid


def test_unknown_document_type_raises() -> None:
    with pytest.raises(UnknownCodeError) as raised:
        check_document("07x", "12345678")
    assert str(raised.value) == "未知的证件类型代码 '07x' (unknown document type code)"
    assert isinstance(raised.value, ValueError)


def test_today_defaults_to_the_current_date() -> None:
    assert check_document("01", "11010519491231002X").valid
    assert not check_document("01", "110105299912310011").valid


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("１１０１０５１９４９１２３１００２ｘ", "11010519491231002X"),
        ("11010519491231002x", "11010519491231002X"),
        (" 1101 0519\u30004912\t31002X\r\n", "11010519491231002X"),
        ("11010519491231\u200b002X\ufeff", "11010519491231002X"),
        ("ｅａ１２３４５６７", "EA1234567"),
        ("ABC-123", "ABC-123"),
        ("南字第１２３号", "南字第123号"),
        ("", ""),
    ],
)
def test_normalize_number(raw: str, normalised: str) -> None:
    assert normalize_number(raw) == normalised


@pytest.mark.parametrize(
    ("number15", "number18"),
    [
        ("110105491231002", "11010519491231002X"),
        ("440524800101001", "440524198001010013"),  # sum 196 mod 11 = 9 → 3
        ("110105800101001", "110105198001010016"),
    ],
)
def test_id_number_15_to_18(number15: str, number18: str) -> None:
    assert id_number_15_to_18(number15) == number18


@pytest.mark.parametrize("bad", ["", "11010549123100", "1101054912310021", "11010549123100A"])
def test_id_number_15_to_18_rejects_malformed(bad: str) -> None:
    with pytest.raises(ValueError):
        id_number_15_to_18(bad)


@pytest.mark.parametrize(
    ("first17", "check"),
    [
        ("11010519491231002", "X"),
        ("44052418800101001", "4"),  # GB 11643-1999 Appendix A example 440524188001010014
        ("81000019940823002", "1"),
        ("82000020000910003", "2"),
        ("83000019850101001", "4"),
        ("91184019800615001", "5"),
    ],
)
def test_mod11_2_check_char(first17: str, check: str) -> None:
    assert mod11_2_check_char(first17) == check


@pytest.mark.parametrize("bad", ["", "1101051949123100", "110105194912310021", "1101051949123100X"])
def test_mod11_2_check_char_rejects_malformed(bad: str) -> None:
    with pytest.raises(ValueError):
        mod11_2_check_char(bad)


FEMALE_1949 = check_document("01", "11010519491231002X", today=TODAY)
MALE_1980 = check_document("01", "110105198001010016", today=TODAY)


@pytest.mark.parametrize(
    ("check", "birth", "gender", "problems"),
    [
        (FEMALE_1949, D(1949, 12, 31), "2", []),
        (FEMALE_1949, None, None, []),
        (FEMALE_1949, D(1949, 12, 31), "0", []),
        (FEMALE_1949, D(1949, 12, 31), "9", []),
        (FEMALE_1949, D(1949, 12, 31), "5", []),
        (FEMALE_1949, D(1949, 12, 31), "6", []),
        (MALE_1980, D(1980, 1, 1), "1", []),
        (MALE_1980, D(1980, 1, 1), "5", []),
        (MALE_1980, D(1980, 1, 1), "6", []),
        (
            FEMALE_1949,
            D(1950, 1, 1),
            None,
            ["居民身份证：出生日期 1950-01-01 与证件号码中的 1949-12-31 不一致"],
        ),
        (FEMALE_1949, None, "1", ["居民身份证：性别“男性”与证件号码中的“女性”不一致"]),
        (MALE_1980, None, "2", ["居民身份证：性别“女性”与证件号码中的“男性”不一致"]),
        (
            MALE_1980,
            D(1980, 1, 2),
            "2",
            ["出生日期 1980-01-02 与证件号码中的 1980-01-01 不一致", "性别“女性”"],
        ),
        (MALE_1980, None, "M", ["性别代码 'M' 不在 GB/T 2261.1 中"]),
        (check_document("01", "110105194912310021", today=TODAY), D(2000, 1, 1), "1", []),
        (check_document("03", "E12345678", today=TODAY), D(2000, 1, 1), "1", []),
    ],
)
def test_cross_check(
    check: DocumentCheck, birth: datetime.date | None, gender: str | None, problems: list[str]
) -> None:
    found = cross_check(check, birth_date=birth, gender=gender)
    assert len(found) == len(problems)
    for text, expected in zip(found, problems, strict=True):
        assert expected in text
        assert "(" in text, "English beside the Chinese"


def test_cross_check_on_residence_permit_names_the_permit() -> None:
    check = check_document("09", "820000200009100032", today=TODAY)
    [problem] = cross_check(check, birth_date=D(2000, 9, 11), gender=None)
    assert problem.startswith("港澳台居民居住证：出生日期 2000-09-11")
    assert "contradicts 2000-09-10 encoded in the number" in problem
