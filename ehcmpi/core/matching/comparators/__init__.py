"""The comparator registry: rule-file comparator names → factories (guideline §4.1.1 索引合并,
§4.1.2 模糊查询).

Each factory takes the ``params`` table of a rule-file entry and raises ``ValueError`` naming
the param when it is unknown or of the wrong type, so that a rule file is validated when it
is loaded.  See ``ehcmpi.core.matching.comparator`` for the protocol.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ehcmpi.core.matching.comparator import ComparatorFactory
from ehcmpi.core.matching.comparators.contact import address, gender, household, phone
from ehcmpi.core.matching.comparators.dates import birth_date
from ehcmpi.core.matching.comparators.documents import document
from ehcmpi.core.matching.comparators.names import chinese_name, latin_name
from ehcmpi.core.matching.comparators.strings import string

COMPARATORS: dict[str, ComparatorFactory] = {
    "document": document,
    "chinese_name": chinese_name,
    "latin_name": latin_name,
    "string": string,
    "birth_date": birth_date,
    "gender": gender,
    "phone": phone,
    "address": address,
    "household": household,
}

_NAME_FIELDS = frozenset({"name", "given_name", "family_name"})
_FIELDS: dict[str, frozenset[str]] = {
    "document": frozenset({"documents"}),
    "chinese_name": _NAME_FIELDS,
    "latin_name": _NAME_FIELDS,
    "birth_date": frozenset({"birth_date"}),
    "gender": frozenset({"gender"}),
    "phone": frozenset({"phones"}),
    "address": frozenset({"address", "area_code"}),
    "household": frozenset({"phones", "address", "area_code"}),
}


def comparator_fields(kind: str, params: Mapping[str, Any]) -> frozenset[str]:
    """The ``MatchRecord`` fields a comparator reads (``extra.<name>`` for extra fields).

    Training uses it to leave a comparison out of the EM session of a blocking rule that
    blocks on the same fields: pairs chosen for agreeing there say nothing about m.
    """
    if kind == "string":
        return frozenset({str(params.get("field", ""))})
    return _FIELDS[kind]


__all__ = ["COMPARATORS", "comparator_fields"]
