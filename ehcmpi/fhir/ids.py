"""The FHIR ``id`` in a path (FHIR R4 datatypes §2.24.0.1 ``id``: ``[A-Za-z0-9\\-\\.]{1,64}``).

Registered as the Starlette path convertor ``fhir_id``: ``/Patient/{patient_id:fhir_id}``
cannot capture an operation such as ``/Patient/$match`` (``$`` is not in an id), so routes
need no particular order between them and the frequent ones are tried first.
"""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor


class FhirIdConvertor(Convertor[str]):
    regex = r"[A-Za-z0-9\-\.]{1,64}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("fhir_id", FhirIdConvertor())
#: The path of one Patient, for read, update and delete.
PATIENT_PATH = "/Patient/{patient_id:fhir_id}"
