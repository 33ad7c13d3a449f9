"""``POST /fhir/Patient/{id}/$ehc-qr``: generate the patient's electronic health card QR code
(guideline §4.2.3 二维码的生成; DESIGN.md "QR codes").  Semantics:
:meth:`ehcmpi.core.qr.QrService.generate`.

OperationDefinition ``http://ehcmpi.org/fhir/OperationDefinition/Patient-ehc-qr``, instance
level, affectsState false (the generation is recorded, the patient unchanged).  IN (all
optional; an empty body or none at all gives a dynamic code as text):
``dynamic`` boolean (default true), ``image`` code ``png`` | ``svg`` (the rendered code as an
Attachment), ``careStep`` code (诊疗环节), ``channel`` string (default ``fhir``), ``terminal``
string (a registered reader terminal showing the code), ``app`` + ``appSecret`` strings (a
registered client application; both or neither).  OUT: ``qr`` string (what the QR code
holds), ``ehcId`` Identifier, ``kind`` code (``formal`` | ``temporary``), ``dynamic``
boolean, ``generated`` dateTime, ``expires`` dateTime and ``maxVerifications`` integer (dynamic
codes), ``image`` Attachment (``image/png`` or ``image/svg+xml``, base64).

The image travels as a FHIR Attachment (FHIR R4 §2.24.0.8) rather than as the response body:
FHIR content negotiation here is JSON or XML, and one call gives the text, its expiry and
its picture together.  Errors: unknown patient 404; no EHC card, or only a suspended or
cancelled one, 409; wrong application secret or disabled application 403; unknown terminal
404; a bad parameter 400.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import segno
from fastapi import APIRouter, Request

from ehcmpi.fhir import parameters as p
from ehcmpi.fhir.capability import Capability, Operation
from ehcmpi.fhir.context import actor, container
from ehcmpi.fhir.ehc_common import bad, call, ehc_identifier, when
from ehcmpi.fhir.request_body import read_json
from ehcmpi.fhir.responses import FhirResponse

router = APIRouter()
IMAGE_TYPES = {"png": "image/png", "svg": "image/svg+xml"}
PARAMS = (
    p.Param("dynamic", "in", 0, "1", "boolean", "动态码 (dynamic code; default true)"),
    p.Param("image", "in", 0, "1", "code", "图片格式 (render the code): png | svg"),
    p.Param("careStep", "in", 0, "1", "code", "诊疗环节 (care step), e.g. registration"),
    p.Param("channel", "in", 0, "1", "string", "渠道 (channel; default fhir)"),
    p.Param("terminal", "in", 0, "1", "string", "识读终端编码 (terminal showing the code)"),
    p.Param("app", "in", 0, "1", "string", "客户端应用标识 (client application id)"),
    p.Param("appSecret", "in", 0, "1", "string", "客户端应用密钥 (its secret)"),
    p.Param("qr", "out", 1, "1", "string", "二维码内容 (what the QR code holds)"),
    p.Param("ehcId", "out", 1, "1", "Identifier", "电子健康卡 ID"),
    p.Param("kind", "out", 1, "1", "code", "卡类型 (formal | temporary)"),
    p.Param("dynamic", "out", 1, "1", "boolean", "动态码 (dynamic code)"),
    p.Param("generated", "out", 1, "1", "dateTime", "生成时间 (generated at)"),
    p.Param("expires", "out", 0, "1", "dateTime", "失效时间 (dynamic code expires at)"),
    p.Param("maxVerifications", "out", 0, "1", "integer", "最大验证次数 (use limit)"),
    p.Param("image", "out", 0, "1", "Attachment", "二维码图片 (the rendered code)"),
)
DEFINITION = {
    **p.operation_definition(
        "ehc-qr",
        "生成电子健康卡二维码 (generate an EHC QR code)",
        "Generate the static or dynamic QR code of the patient's electronic health card "
        "(guideline §4.2.3).",
        PARAMS,
        affects_state=False,
        instance=True,
    ),
    "type": False,
}
CAPABILITY = Capability(
    "Patient",
    operations=(
        Operation("ehc-qr", DEFINITION["url"], "生成电子健康卡二维码 (EHC QR code)", DEFINITION),
    ),
)
DECLARED = {x.name: x.max for x in PARAMS if x.use == "in"}


def render(text: str, image: str) -> bytes:
    """The QR code as PNG or SVG (ISO/IEC 18004, error correction M, 4-module quiet zone)."""
    buffer = io.BytesIO()
    segno.make(text, error="m", micro=False).save(buffer, kind=image, scale=6, border=4)
    return buffer.getvalue()


async def _given(request: Request) -> p.Given:
    if not await request.body():
        return {}
    return p.read_parameters(await read_json(request, "Parameters"), DECLARED)


@router.post("/Patient/{patient_id}/$ehc-qr", summary="生成电子健康卡二维码 (EHC QR code, §4.2.3)")
async def ehc_qr(patient_id: str, request: Request) -> FhirResponse:
    given = await _given(request)
    image = p.text(given, "image")
    if image is not None and image not in IMAGE_TYPES:
        raise bad(f"image 须为 png 或 svg (image must be png or svg): {image}", "image")
    app, secret = p.text(given, "app"), p.text(given, "appSecret")
    if (app is None) != (secret is None):
        raise bad("app 与 appSecret 须同时给出 (give app and appSecret together)", "appSecret")
    code = await call(
        container(request).qr.generate,
        mpi_id=patient_id,
        dynamic=p.boolean(given, "dynamic", True),
        care_step=p.text(given, "careStep"),
        channel=p.text(given, "channel") or "fhir",
        terminal=p.text(given, "terminal"),
        app=app,
        app_secret=secret,
        actor=actor(request),
    )
    out: list[dict[str, Any]] = [
        {"name": "qr", "valueString": code.text},
        {"name": "ehcId", "valueIdentifier": ehc_identifier(code.ehc_id)},
        {"name": "kind", "valueCode": code.kind.value},
        {"name": "dynamic", "valueBoolean": code.dynamic},
        {"name": "generated", "valueDateTime": when(code.generated_at)},
    ]
    if code.expires_at is not None:
        out.append({"name": "expires", "valueDateTime": when(code.expires_at)})
    if code.max_verifications is not None:
        out.append({"name": "maxVerifications", "valueInteger": code.max_verifications})
    if image is not None:
        data = base64.b64encode(render(code.text, image)).decode()
        attachment = {"contentType": IMAGE_TYPES[image], "data": data, "title": "EHC QR"}
        out.append({"name": "image", "valueAttachment": attachment})
    return FhirResponse({"resourceType": "Parameters", "parameter": out})
