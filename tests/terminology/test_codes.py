"""Code tables: guideline Appendix A, GB/T 2261.1-2003 gender, GB/T 3304-1991 ethnicity."""

from __future__ import annotations

import dataclasses

import pytest

from ehcmpi.terminology import (
    DOCUMENT_TYPES,
    ETHNICITIES,
    GENDERS,
    DocumentType,
    UnknownCodeError,
    document_type,
    ethnicity_name,
    gender_from_fhir,
    gender_to_fhir,
)

APPENDIX_A = [
    ("01", "居民身份证"),
    ("02", "居民户口簿"),
    ("03", "护照"),
    ("04", "军官证"),
    ("05", "驾驶证"),
    ("06", "港澳居民来往内地通行证"),
    ("07", "台湾居民来往大陆通行证"),
    ("08", "出生医学证明"),
    ("09", "港澳台居民居住证"),
    ("10", "外国人永久居留身份证"),
    ("99", "其他法定有效证件"),
]


def test_appendix_a_is_complete_and_in_order() -> None:
    assert [(t.code, t.name_zh) for t in DOCUMENT_TYPES.values()] == APPENDIX_A


@pytest.mark.parametrize(("code", "name_zh"), APPENDIX_A)
def test_document_type_lookup(code: str, name_zh: str) -> None:
    found = document_type(code)
    assert (found.code, found.name_zh) == (code, name_zh)
    assert found.name_en and found.name_en.isascii()


@pytest.mark.parametrize("code", ["07x", "1", "00", "11", "98", "", " 01"])
def test_unknown_document_type(code: str) -> None:
    with pytest.raises(UnknownCodeError) as raised:
        document_type(code)
    assert str(raised.value) == f"未知的证件类型代码 '{code}' (unknown document type code)"
    assert raised.value.code == code


def test_code_tables_cannot_be_changed_by_callers() -> None:
    with pytest.raises(TypeError):
        DOCUMENT_TYPES["11"] = DocumentType("11", "x", "x")  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        document_type("01").name_zh = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        ETHNICITIES["99"] = "x"  # type: ignore[index]


@pytest.mark.parametrize(
    ("code", "name_zh", "fhir"),
    [
        ("0", "未知的性别", "unknown"),
        ("1", "男性", "male"),
        ("2", "女性", "female"),
        ("5", "女性改(变)为男性", "male"),
        ("6", "男性改(变)为女性", "female"),
        ("9", "未说明的性别", "unknown"),
    ],
)
def test_gender_to_fhir(code: str, name_zh: str, fhir: str) -> None:
    assert gender_to_fhir(code) == fhir
    assert GENDERS[code].name_zh == name_zh


def test_gender_table_has_exactly_the_gb_t_2261_1_codes() -> None:
    assert list(GENDERS) == ["0", "1", "2", "5", "6", "9"]


@pytest.mark.parametrize(
    ("fhir", "code"), [("male", "1"), ("female", "2"), ("other", "9"), ("unknown", "0")]
)
def test_gender_from_fhir(fhir: str, code: str) -> None:
    assert gender_from_fhir(fhir) == code


@pytest.mark.parametrize("code", ["3", "M", "", "男", "10"])
def test_unknown_gender_code(code: str) -> None:
    with pytest.raises(UnknownCodeError) as raised:
        gender_to_fhir(code)
    assert str(raised.value) == f"未知的性别代码 '{code}' (unknown GB/T 2261.1 gender code)"


@pytest.mark.parametrize("value", ["Male", "M", "f", "", "1"])
def test_unknown_fhir_gender(value: str) -> None:
    with pytest.raises(UnknownCodeError) as raised:
        gender_from_fhir(value)
    assert str(raised.value) == f"未知的FHIR性别值 '{value}' (unknown FHIR administrative gender)"


def test_ethnicity_table_has_58_codes() -> None:
    assert len(ETHNICITIES) == 58
    assert list(ETHNICITIES) == [f"{n:02d}" for n in range(1, 57)] + ["97", "98"]
    assert len(set(ETHNICITIES.values())) == 58


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("01", "汉族"),
        ("02", "蒙古族"),
        ("05", "维吾尔族"),
        ("10", "朝鲜族"),
        ("11", "满族"),
        ("22", "畲族"),
        ("23", "高山族"),
        ("29", "柯尔克孜族"),
        ("46", "德昂族"),
        ("54", "门巴族"),
        ("55", "珞巴族"),
        ("56", "基诺族"),
        ("97", "其他"),
        ("98", "外国血统中国籍人士"),
    ],
)
def test_ethnicity_name(code: str, name: str) -> None:
    assert ethnicity_name(code) == name


@pytest.mark.parametrize("code", ["00", "57", "99", "1", ""])
def test_unknown_ethnicity(code: str) -> None:
    with pytest.raises(UnknownCodeError) as raised:
        ethnicity_name(code)
    assert str(raised.value) == f"未知的民族代码 '{code}' (unknown GB/T 3304 ethnicity code)"
