"""Patient searches (PDQm ITI-78 ``GET /fhir/Patient?…``) about the benchmark's patients.

Search ``k`` about patient ``i`` is always the same request.  The mix rotates through
``SEARCHES``: what a registration desk and PDQm consumers send (the two combinations PDQm
requires, 2:3.78.4.1.2.1.1, among them), each about one seeded patient, so every search finds
at least that patient (an empty answer counts as a miss).  Pages hold 10 patients.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

import workload
from workload import Person

from ehcmpi.terminology.pinyin import name_pinyin, split_chinese_name

Params = list[tuple[str, str]]
PAGE = ("_count", "10")


def _family(p: Person) -> str:
    return split_chinese_name(p.name)[0]


def _given(p: Person) -> str:
    return split_chinese_name(p.name)[1]


#: (label, the query parameters about a patient)
SEARCHES: tuple[tuple[str, Callable[[Person], Params]], ...] = (
    ("name (pinyin) + birthdate",
     lambda p: [("name", name_pinyin(p.name)), ("birthdate", p.birth_date.isoformat())]),
    ("family + gender", lambda p: [("family", _family(p)), ("gender", p.fhir_gender), PAGE]),
    ("family (pinyin) + gender",
     lambda p: [("family", name_pinyin(_family(p)).replace(" ", "")), ("gender", p.fhir_gender),
                PAGE]),
    ("birthdate + family (pinyin)",
     lambda p: [("birthdate", p.birth_date.isoformat()),
                ("family", name_pinyin(_family(p)).replace(" ", ""))]),
    ("name (characters)", lambda p: [("name", p.name), PAGE]),
    ("given + birth month", lambda p: [("given", _given(p)), ("birthdate", f"{p.birth_date:%Y-%m}"),
                                       PAGE]),
    ("telecom", lambda p: [("telecom", p.phone)]),
    ("identifier", lambda p: [("identifier", f"{workload.CITIZEN_ID_SYSTEM}|{p.id_number}")]),
)  # fmt: skip


def search_params(index: int, k: int) -> Params:
    _, params = SEARCHES[k % len(SEARCHES)]
    return params(workload.person(index))


def search_target(index: int, k: int) -> str:
    return "/fhir/Patient?" + urlencode(search_params(index, k))


def search_request(index: int, k: int, host: str) -> bytes:
    """The raw HTTP/1.1 request of search ``k`` (keep-alive) about patient ``index``."""
    target = search_target(index, k)
    return (
        f"GET {target} HTTP/1.1\r\nHost: {host}\r\nAccept: application/fhir+json\r\n\r\n".encode()
    )
