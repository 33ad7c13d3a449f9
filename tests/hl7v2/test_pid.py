"""PID / MRG / QPD ↔ domain (HL7 v2.5 §3.4.2; ITI-8 rules 13/15, ITI-9 rule 4, ITI-10 rule 16)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import pathlib
import tomllib

import pytest

from ehcmpi.core.domains import DomainRegistry, IdentifierDomain
from ehcmpi.core.model import (
    Address,
    Demographics,
    DocumentInput,
    IdentityDocument,
    PatientRecord,
    RegistrationMode,
    SourceIdentifier,
)
from ehcmpi.hl7v2.codec import HL7Error, Message, Value, build, decode
from ehcmpi.hl7v2.pid import (
    AssignedId,
    Cx,
    domain_system,
    identifiers_from_pid,
    merge_ids_from_mrg,
    parse_cx,
    registration_from_pid,
    resolve_identifier,
)
from ehcmpi.hl7v2.pid_out import format_identifier, pdq_pid, pix_pid
from ehcmpi.settings import Settings
from ehcmpi.terminology.systems import EHC_ID_SYSTEM, ID_CARD_SYSTEM, MPI_ID_SYSTEM
from tests.support import DOMAINS_TOML

CONFORMANCE = pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "conformance"
DOMAINS = Settings.model_validate(tomllib.loads(DOMAINS_TOML)).domain_registry()
HIS = "urn:oid:1.2.156.112604.1.2.1"
LIS = "urn:oid:1.2.156.112604.1.2.2"
ID_NO = "11010519491231002X"
MSH = "MSH|^~\\&|{app}|协和医院|EHCMPI|平台|20240501083000||ADT^A01^ADT_A01|M1|P|2.5\r"


def adt(pid: str, *, app: str = "HIS", extra: str = "") -> Message:
    return decode((MSH.format(app=app) + "EVN|A01\r" + pid + "\r" + extra).encode())


CHINESE_PID = (
    f"PID|1||{ID_NO}^^^&2.16.156.10011.1.3&ISO^01~H001^^^HIS&1.2.156.112604.1.2.1&ISO^PI"
    '~E123^^^EHC&2.16.156.10011.1.19&ISO^HC~""^^^&1.2.156.112604.1.2.2&ISO'
    "||张^伟^^^^^L^I~ZHANG^WEI^^^^^L^P||19900307|M|||"
    "文三路1号^^杭州市^浙江省^310000^CHN^H^西湖区^330106||"
    "^PRN^CP^^^^^^^^^13800138000~^NET^Internet^zw@example.cn|0571-88888888||||||||01^汉族"
)


def test_registration_from_a_chinese_feed() -> None:
    request = registration_from_pid(adt(CHINESE_PID), DOMAINS)
    assert request.mode is RegistrationMode.FEED
    assert request.documents == (DocumentInput("01", ID_NO),)
    assert request.source_ids == (SourceIdentifier(HIS, "H001"),)
    assert request.demographics == Demographics(
        name="张伟",
        name_pinyin="ZHANG WEI",
        gender="1",
        birth_date=dt.date(1990, 3, 7),
        ethnicity="01",
        phones=("13800138000", "0571-88888888"),
        addresses=(
            Address(
                text="浙江省杭州市西湖区文三路1号",
                line="文三路1号",
                city="杭州市",
                district="西湖区",
                state="浙江省",
                postal_code="310000",
                country="CHN",
                area_code="330106",
            ),
        ),
    )


def test_server_assigned_ids_are_recognised_not_registered() -> None:
    found = identifiers_from_pid(adt(CHINESE_PID), DOMAINS)
    assert AssignedId(EHC_ID_SYSTEM, "E123") in found
    assert len(found) == 3  # the "" delete indicator is skipped


def test_missing_assigning_authority_is_filled_from_the_sending_application() -> None:
    request = registration_from_pid(adt("PID|1||H002||李^娜"), DOMAINS)
    assert request.source_ids == (SourceIdentifier(HIS, "H002"),)
    assert request.demographics.name == "李娜"
    lis = registration_from_pid(adt("PID|1||L9", app="LIS"), DOMAINS)
    assert lis.source_ids == (SourceIdentifier(LIS, "L9"),)


def test_missing_assigning_authority_without_a_configured_source_is_an_error() -> None:
    with pytest.raises(HL7Error) as caught:
        registration_from_pid(adt("PID|1||X1", app="UNKNOWN"), DOMAINS)
    assert (caught.value.code, caught.value.location) == ("101", "PID^1^3^1^4")


def test_unknown_domain_is_error_204_with_its_location() -> None:
    pid = "PID|1||H001^^^HIS~Z9^^^OTHER&1.2.3.4&ISO"
    with pytest.raises(HL7Error) as caught:
        registration_from_pid(adt(pid), DOMAINS)
    assert (caught.value.code, caught.value.location) == ("204", "PID^1^3^2^4")


def test_namespace_and_oid_of_different_domains_disagree() -> None:
    with pytest.raises(HL7Error) as caught:
        registration_from_pid(adt("PID|1||H1^^^HIS&1.2.156.112604.1.2.2&ISO"), DOMAINS)
    assert (caught.value.code, caught.value.location) == ("204", "PID^1^3^1^4")


@pytest.mark.parametrize(
    ("cx", "expected"),
    [
        (Cx("H1", "HIS"), SourceIdentifier(HIS, "H1")),
        (Cx("H1", "", "1.2.156.112604.1.2.1", "ISO"), SourceIdentifier(HIS, "H1")),
        (Cx(ID_NO, "", "2.16.156.10011.1.3", "ISO"), DocumentInput("01", ID_NO)),
        (Cx(ID_NO, "DOC01"), DocumentInput("01", ID_NO)),
        (Cx("E12345678", "DOC03"), DocumentInput("03", "E12345678")),
        (Cx("E1", "P", "http://ehcmpi.org/fhir/sid/doc-03", "URI"), DocumentInput("03", "E1")),
        (Cx("E12345678", id_type="03"), DocumentInput("03", "E12345678")),
        (Cx("E12345678", "PASSPORT", id_type="03"), DocumentInput("03", "E12345678")),
        (Cx("E1", "EHC", "2.16.156.10011.1.19", "ISO"), AssignedId(EHC_ID_SYSTEM, "E1")),
        (Cx("M1", "EHCMPI"), AssignedId(MPI_ID_SYSTEM, "M1")),
        (Cx('""', "HIS"), None),
        (Cx(""), None),
    ],
)
def test_resolve_identifier(cx: Cx, expected: object) -> None:
    assert resolve_identifier(cx, DOMAINS) == expected


def test_an_appendix_a_type_beats_the_default_domain() -> None:
    his = DOMAINS.by_namespace("HIS")
    assert resolve_identifier(Cx(ID_NO, id_type="01"), DOMAINS, default_domain=his) == (
        DocumentInput("01", ID_NO)
    )


def test_bad_birth_date_is_a_data_type_error_at_pid_7() -> None:
    with pytest.raises(HL7Error) as caught:
        registration_from_pid(adt("PID|1||H1^^^HIS||张^伟||19901345"), DOMAINS)
    assert (caught.value.code, caught.value.location) == ("102", "PID^1^7")


@pytest.mark.parametrize(
    ("ts", "expected"),
    [("19900307", dt.date(1990, 3, 7)), ("199003071230+0800", dt.date(1990, 3, 7)), ("1990", None)],
)
def test_birth_date_precision(ts: str, expected: dt.date | None) -> None:
    request = registration_from_pid(adt(f"PID|1||H1^^^HIS||||{ts}"), DOMAINS)
    assert request.demographics.birth_date == expected


@pytest.mark.parametrize(
    ("sex", "gb"), [("F", "2"), ("U", "0"), ("O", "9"), ("2", "2"), ("", None)]
)
def test_sex_maps_to_gb_t_2261_1(sex: str, gb: str | None) -> None:
    request = registration_from_pid(adt(f"PID|1||H1^^^HIS|||||{sex}"), DOMAINS)
    assert request.demographics.gender == gb


@pytest.mark.parametrize(
    ("pid6", "expected"),
    [
        ("李^秀英^^^^^M^I~Li^Xiuying^^^^^M^P", "李秀英"),
        ("Li^Xiuying^^^^^M^P~李^秀英^^^^^M^I", "李秀英"),  # characters are preferred
        ("欧阳兰", "欧阳兰"),
        ("Eisner^^^^^^B", "Eisner"),  # as IHE's published A01 template sends it
        ('""', None),
        ("", None),
    ],
)
def test_pid_6_is_the_mothers_maiden_name(pid6: str, expected: str | None) -> None:
    request = registration_from_pid(adt(f"PID|1||H1^^^HIS||张^伟|{pid6}"), DOMAINS)
    assert request.demographics.mothers_maiden_name == expected
    assert request.demographics.name == "张伟"


def test_unknown_sex_is_a_table_error_at_pid_8() -> None:
    with pytest.raises(HL7Error) as caught:
        registration_from_pid(adt("PID|1||H1^^^HIS|||||X"), DOMAINS)
    assert (caught.value.code, caught.value.location) == ("103", "PID^1^8")


def test_missing_pid_is_a_segment_error() -> None:
    message = decode((CONFORMANCE / "iti8" / "iti8_a01_ipf_missing_pid.hl7").read_bytes())
    with pytest.raises(HL7Error) as caught:
        registration_from_pid(message, DOMAINS)
    assert caught.value.code == "100"


def test_mrg_1_of_an_a40() -> None:
    message = adt("PID|1||H1^^^HIS", extra="MRG|H0^^^HIS&1.2.156.112604.1.2.1&ISO\r")
    assert merge_ids_from_mrg(message, DOMAINS) == SourceIdentifier(HIS, "H0")
    without_domain = adt("PID|1||H1^^^HIS", extra="MRG|H0\r")
    assert merge_ids_from_mrg(without_domain, DOMAINS) == SourceIdentifier(HIS, "H0")
    document = adt("PID|1||H1^^^HIS", extra=f"MRG|{ID_NO}^^^&2.16.156.10011.1.3&ISO\r")
    with pytest.raises(HL7Error):
        merge_ids_from_mrg(document, DOMAINS)


def test_published_a40_merge() -> None:
    raw = (CONFORMANCE / "iti8" / "iti8_a40_ipf_camel_iti8.hl7").read_bytes()
    himss = IdentifierDomain("HIMSS2005", "1.3.6.1.4.1.21367.2005.1.1", "urn:oid:himss", "H")
    merged = merge_ids_from_mrg(decode(raw), DomainRegistry([himss]))
    assert merged == SourceIdentifier("urn:oid:himss", "PDQ113XX03")


def test_qpd_what_domains_returned() -> None:
    message = decode((CONFORMANCE / "iti9" / "iti9_qbp_q23_ipf_template.hl7").read_bytes())
    qpd = message.segments("QPD")[0]
    for n, field in enumerate(qpd.repetitions(4), start=1):
        with pytest.raises(HL7Error) as caught:
            domain_system(parse_cx(field), DOMAINS, location=f"QPD^1^4^{n}")
        assert (caught.value.code, caught.value.location) == ("204", f"QPD^1^4^{n}")
    assert domain_system(Cx("", "", "1.2.156.112604.1.2.2", "ISO"), DOMAINS, location="") == LIS


def _line(segment: list[Value]) -> str:
    return build([segment]).decode().rstrip("\r")


def test_pix_pid_for_iti_9_and_iti_10() -> None:
    ids = [
        Cx("01", "IHENA", "1.3.6.1.4.1.21367.2010.1.2.300", "ISO", "PI"),
        Cx("LOCAL01", "IHELOCAL", "1.3.6.1.4.1.21367.2010.1.2.310", "ISO", "PI"),
    ]
    pid3 = (
        "01^^^IHENA&1.3.6.1.4.1.21367.2010.1.2.300&ISO^PI"
        "~LOCAL01^^^IHELOCAL&1.3.6.1.4.1.21367.2010.1.2.310&ISO^PI"
    )
    assert _line(pix_pid(ids)) == f"PID|||{pid3}||~^^^^^^S"
    assert _line(pix_pid(ids, notification=True)) == f"PID|||{pid3}|| "
    published = (CONFORMANCE / "iti10" / "iti10_a31_ipf_02.hl7").read_bytes().decode().split("\r")
    assert _line(pix_pid(ids, notification=True)) in published


def test_format_identifier() -> None:
    assert format_identifier(HIS, "H1", DOMAINS) == Cx(
        "H1", "HIS", "1.2.156.112604.1.2.1", "ISO", "PI"
    )
    assert format_identifier(ID_CARD_SYSTEM, ID_NO, DOMAINS) == Cx(
        ID_NO, "DOC01", "2.16.156.10011.1.3", "ISO", "01"
    )
    doc03 = "http://ehcmpi.org/fhir/sid/doc-03"
    assert format_identifier(doc03, "E1", DOMAINS) == Cx("E1", "DOC03", doc03, "URI", "03")
    assert format_identifier(EHC_ID_SYSTEM, "AB", DOMAINS) == Cx(
        "AB", "EHC", "2.16.156.10011.1.19", "ISO", "HC"
    )
    assert format_identifier(MPI_ID_SYSTEM, "M1", DOMAINS) == Cx(
        "M1", "EHCMPI", MPI_ID_SYSTEM, "URI", "PI"
    )
    for cx in (format_identifier(s, "v", DOMAINS) for s in (HIS, ID_CARD_SYSTEM, doc03)):
        assert resolve_identifier(cx, DOMAINS) is not None  # the reverse direction agrees


PATIENT = PatientRecord(
    mpi_id="M1",
    ehc_id="EHC1",
    documents=(IdentityDocument("01", ID_NO, primary=True), IdentityDocument("03", "BAD", False)),
    source_ids=(SourceIdentifier(HIS, "H001"), SourceIdentifier(LIS, "L7")),
    demographics=Demographics(
        name="欧阳娜娜",
        name_pinyin="ouyang nana",
        gender="2",
        birth_date=dt.date(2000, 6, 15),
        ethnicity="03",
        phones=("13800138000", "0571-88888888"),
        addresses=(Address(line="文三路1号", city="杭州市", state="浙江省", district="西湖区"),),
    ),
)


def test_pdq_pid() -> None:
    assert _line(pdq_pid(PATIENT, DOMAINS, {ID_CARD_SYSTEM, HIS}, set_id=2)) == (
        f"PID|2||{ID_NO}^^^DOC01&2.16.156.10011.1.3&ISO^01"
        "~H001^^^HIS&1.2.156.112604.1.2.1&ISO^PI"
        "||欧阳^娜娜^^^^^L^I~ouyang^nana^^^^^L^P||20000615|F|||文三路1号^^杭州市^浙江省^^^^西湖区"
        "||13800138000^PRN^CP~0571-88888888^PRN^PH|||||||||03^回族^GB3304"
    )


def test_pdq_pid_round_trips_through_the_feed_mapping() -> None:
    raw = build([["MSH", "|", "^~\\&", "HIS"], ["EVN"], pdq_pid(PATIENT, DOMAINS)])
    request = registration_from_pid(decode(raw.replace(b"MSH|^~\\&|HIS", MSH_HEAD)), DOMAINS)
    assert request.documents == (DocumentInput("01", ID_NO),)
    assert request.source_ids == PATIENT.source_ids
    d = request.demographics
    assert (d.name, d.name_pinyin, d.gender, d.birth_date) == (
        "欧阳娜娜",
        "ouyang nana",
        "2",
        dt.date(2000, 6, 15),
    )
    assert d.phones == PATIENT.demographics.phones and d.ethnicity == "03"


MSH_HEAD = b"MSH|^~\\&|HIS|H|EMPI|E|20240501||ADT^A08|1|P|2.5"


@pytest.mark.parametrize(
    ("mother", "pid6"),
    [("欧阳兰", "欧阳^兰^^^^^M^I"), ("李", "李^^^^^^M^I"), ("Mary Doe", "Mary Doe^^^^^^M")],
)
def test_pdq_pid_writes_pid_6_and_a_feed_reads_it_back(mother: str, pid6: str) -> None:
    with_mother = dataclasses.replace(
        PATIENT,
        demographics=dataclasses.replace(PATIENT.demographics, mothers_maiden_name=mother),
    )
    segment = pdq_pid(with_mother, DOMAINS, {HIS})
    assert _line(segment).split("|")[6] == pid6
    raw = build([["MSH", "|", "^~\\&", "HIS"], ["EVN"], segment])
    request = registration_from_pid(decode(raw.replace(b"MSH|^~\\&|HIS", MSH_HEAD)), DOMAINS)
    assert request.demographics.mothers_maiden_name == mother
