"""The comparator registry: rule-file comparator names → factories (guideline §4.1.1 索引合并,
§4.1.2 模糊查询).

Each factory takes the ``params`` table of a rule-file entry and raises ``ValueError`` naming
the param when it is unknown or of the wrong type, so that a rule file is validated when it
is loaded.  See ``ehcmpi.core.matching.comparator`` for the protocol.
"""

from __future__ import annotations

from ehcmpi.core.matching.comparator import ComparatorFactory
from ehcmpi.core.matching.comparators.contact import address, gender, phone
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
}

__all__ = ["COMPARATORS"]
