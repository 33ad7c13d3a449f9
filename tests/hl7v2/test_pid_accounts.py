"""PID-18 patient account number (HL7 v2.5 §3.4.2.18, CX) ↔ ``RegistrationRequest.accounts``
and the ITI-21 answer's PID-18 (IHE ITI TF-2 3.21, RULES.md 18, 20)."""

from __future__ import annotations

import tomllib

import pytest

from ehcmpi.core.model import Demographics, PatientRecord, SourceIdentifier
from ehcmpi.hl7v2.codec import HL7Error, Message, build, decode
from ehcmpi.hl7v2.pid import registration_from_pid
from ehcmpi.hl7v2.pid_out import pdq_pid
from ehcmpi.settings import Settings
from tests.support import DOMAINS_TOML

DOMAINS = Settings.model_validate(tomllib.loads(DOMAINS_TOML)).domain_registry()
HIS = "urn:oid:1.2.156.112604.1.2.1"
MSH = "MSH|^~\\&|{app}|H|EHCMPI|E|20240501083000||ADT^A01^ADT_A01|M1|P|2.5\rEVN|A01\r"


def adt(pid18: str, *, app: str = "HIS") -> Message:
    pid = f"PID|1||H001^^^HIS&1.2.156.112604.1.2.1&ISO^PI||张^伟||19900307|M{'|' * 10}{pid18}"
    return decode((MSH.format(app=app) + pid + "\r").encode())


def test_pid_18_repetitions_and_their_authorities() -> None:
    request = registration_from_pid(
        adt(
            "ACC123^^^HIS~V77^^^&1.2.3.4&ISO^AN~W8^^^BILLING~U9^^^&http://x.cn/acct&URI"
            '~ACC123^^^HIS~~""'
        ),
        DOMAINS,
    )
    assert request.accounts == (
        SourceIdentifier(HIS, "ACC123"),  # a configured domain, by namespace
        SourceIdentifier("urn:oid:1.2.3.4", "V77"),  # unknown OID: kept as given
        SourceIdentifier("BILLING", "W8"),  # unknown namespace: kept as given
        SourceIdentifier("http://x.cn/acct", "U9"),
    )  # repeated and empty repetitions are dropped
    assert request.source_ids == (SourceIdentifier(HIS, "H001"),)


def test_pid_18_without_authority_is_msh_3s_domain_or_namespace() -> None:
    assert registration_from_pid(adt("A1"), DOMAINS).accounts == (SourceIdentifier(HIS, "A1"),)
    unknown_sender = registration_from_pid(adt("A1", app="CASHIER"), DOMAINS)
    assert unknown_sender.accounts == (SourceIdentifier("CASHIER", "A1"),)


def test_no_pid_18_no_account_and_a_bad_authority_is_located() -> None:
    assert registration_from_pid(adt(""), DOMAINS).accounts == ()
    with pytest.raises(HL7Error) as bad:
        registration_from_pid(adt("A1~A2^^^HIS&1.2.156.112604.1.2.2&ISO"), DOMAINS)
    assert (bad.value.code, bad.value.location) == ("204", "PID^1^18^2^4")


@pytest.mark.parametrize(
    ("account", "cx"),
    [
        (SourceIdentifier(HIS, "ACC123"), "ACC123^^^HIS&1.2.156.112604.1.2.1&ISO^AN"),
        (SourceIdentifier("urn:oid:1.2.3.4", "V77"), "V77^^^&1.2.3.4&ISO^AN"),
        (SourceIdentifier("BILLING", "W8"), "W8^^^BILLING^AN"),
        (SourceIdentifier("http://x.cn/acct", "U9"), "U9^^^&http://x.cn/acct&URI^AN"),
    ],
)
def test_pdq_pid_writes_pid_18_and_a_feed_reads_it_back(account: SourceIdentifier, cx: str) -> None:
    patient = PatientRecord("M" * 64, Demographics(name="张伟"))
    second = SourceIdentifier(HIS, "OTHER")
    segment = pdq_pid(patient, DOMAINS, set_id=1, accounts=[account, second])
    line = build([["MSH", "|", "^~\\&", "HIS"], segment]).decode().split("\r")[1]
    assert line.split("|")[18] == cx  # PID-18 does not repeat: the first account
    fed = decode((MSH.format(app="HIS") + line + "\r").encode())
    assert registration_from_pid(fed, DOMAINS).accounts == (account,)
    assert pdq_pid(patient, DOMAINS)[18] is None
