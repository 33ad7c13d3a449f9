"""The code systems this server publishes, as FHIR CodeSystem and ValueSet resources (FHIR R4
§4.8 CodeSystem, §4.9 ValueSet), built from the terminology tables — never a second copy:

* guideline Appendix A 电子健康卡注册法定证件类型 (``…/CodeSystem/document-type``, 01–10, 99),
  the ``Identifier.type`` of every document identifier;
* GB/T 2261.1-2003 人的性别代码 (``…/CodeSystem/gb-t-2261-1-gender``);
* GB/T 3304-1991 中国各民族名称的罗马字母拼写法和代码 (``…/CodeSystem/gb-t-3304-ethnicity``).

Each concept's ``display`` is the Chinese name of the standard; a ``designation`` in English
(GB/T 3304: its romanized name) sits beside it.  Each code system has one ValueSet of all its
codes, ``http://ehcmpi.org/fhir/ValueSet/<id>``.  The terminology operations share the small
helpers here: the input reader (query string or ``Parameters`` body) and the
OperationDefinition builder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import APIRouter
from starlette.requests import Request

from ehcmpi.fhir.outcome import FhirError
from ehcmpi.fhir.parameters import Param, read_parameters
from ehcmpi.fhir.parameters import operation_definition as parameters_operation_definition
from ehcmpi.fhir.request_body import read_json
from ehcmpi.fhir.responses import base_url
from ehcmpi.terminology.document_types import DOCUMENT_TYPES
from ehcmpi.terminology.ethnicity import ETHNICITIES, ETHNICITIES_ROMAN
from ehcmpi.terminology.gender import GENDERS
from ehcmpi.terminology.systems import (
    DOCUMENT_TYPE_CODESYSTEM,
    ETHNICITY_CODESYSTEM,
    GENDER_CODESYSTEM,
)

VALUESET_BASE = "http://ehcmpi.org/fhir/ValueSet"
HL7_OPERATION_BASE = "http://hl7.org/fhir/OperationDefinition"
LANGUAGES = ("zh", "en")


@dataclass(frozen=True)
class Concept:
    code: str
    display: str  # Chinese, as the standard writes it
    english: str


@dataclass(frozen=True)
class CodeTable:
    """One published code system and its all-codes value set."""

    url: str
    name: str
    title: str
    version: str
    description: str
    concepts: tuple[Concept, ...]

    @property
    def id(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def valueset_url(self) -> str:
        return f"{VALUESET_BASE}/{self.id}"

    def concept(self, code: str) -> Concept | None:
        return next((c for c in self.concepts if c.code == code), None)


TABLES = (
    CodeTable(
        DOCUMENT_TYPE_CODESYSTEM, "DocumentType",
        "电子健康卡注册法定证件类型 (legal document types for EHC registration)", "2023",
        "《医疗卫生机构患者主索引标准统一技术指南（2023 版）》附录 A 电子健康卡注册法定证件类型"
        "编码表 (guideline Appendix A)",
        tuple(Concept(t.code, t.name_zh, t.name_en) for t in DOCUMENT_TYPES.values()),
    ),
    CodeTable(
        GENDER_CODESYSTEM, "GbT22611Gender", "人的性别代码 (GB/T 2261.1 sex codes)",
        "GB/T 2261.1-2003", "GB/T 2261.1-2003《个人基本信息分类与代码 第1部分：人的性别代码》",
        tuple(Concept(g.code, g.name_zh, g.name_en) for g in GENDERS.values()),
    ),
    CodeTable(
        ETHNICITY_CODESYSTEM, "GbT3304Ethnicity", "中国各民族名称代码 (GB/T 3304 ethnicity codes)",
        "GB/T 3304-1991", "GB/T 3304-1991《中国各民族名称的罗马字母拼写法和代码》及 97 其他、"
        "98 外国血统中国籍人士",
        tuple(Concept(c, name, ETHNICITIES_ROMAN[c]) for c, name in ETHNICITIES.items()),
    ),
)  # fmt: skip
BY_ID: Mapping[str, CodeTable] = {t.id: t for t in TABLES}
BY_URL: Mapping[str, CodeTable] = {t.url: t for t in TABLES}
BY_VALUESET_URL: Mapping[str, CodeTable] = {t.valueset_url: t for t in TABLES}


def designations(concept: Concept) -> list[dict[str, str]]:
    return [{"language": "zh", "value": concept.display},
            {"language": "en", "value": concept.english}]  # fmt: skip


def display_in(concept: Concept, language: str | None) -> str:
    return concept.english if language == "en" else concept.display


def _metadata(table: CodeTable) -> dict[str, Any]:
    return {
        "version": table.version, "name": table.name, "title": table.title, "status": "active",
        "experimental": False, "publisher": "ehcmpi", "description": table.description,
    }  # fmt: skip


def codesystem_resource(table: CodeTable) -> dict[str, Any]:
    return {
        "resourceType": "CodeSystem", "id": table.id, "language": "zh-CN", "url": table.url,
        **_metadata(table), "caseSensitive": True, "valueSet": table.valueset_url,
        "content": "complete", "count": len(table.concepts),
        "concept": [
            {"code": c.code, "display": c.display, "designation": designations(c)}
            for c in table.concepts
        ],
    }  # fmt: skip


def valueset_resource(table: CodeTable) -> dict[str, Any]:
    return {
        "resourceType": "ValueSet", "id": table.id, "language": "zh-CN",
        "url": table.valueset_url, **_metadata(table), "immutable": True,
        "compose": {"include": [{"system": table.url, "version": table.version}]},
    }  # fmt: skip


def searchset(request: Request, resources: Iterable[dict[str, Any]]) -> dict[str, Any]:
    found = list(resources)
    base = base_url(request)
    return {
        "resourceType": "Bundle", "type": "searchset", "total": len(found),
        "link": [{"relation": "self", "url": str(request.url)}],
        "entry": [
            {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r,
             "search": {"mode": "match"}}
            for r in found
        ],
    }  # fmt: skip


# --- shared by the operations ----------------------------------------------------------------


def query(request: Request, allowed: Iterable[str]) -> dict[str, str]:
    """The query parameters, each at most once; an unknown one is 400, never ignored."""
    names = [key for key, _ in request.query_params.multi_items()]
    for name in names:
        if name not in allowed and name != "_format":
            raise FhirError(400, "not-supported", f"不支持的参数 (unsupported parameter): {name}",
                            expression=name)  # fmt: skip
        if names.count(name) > 1:
            raise FhirError(400, "invalid", f"参数 {name} 只能出现一次 (parameter repeated)",
                            expression=name)  # fmt: skip
    return {k: v for k, v in request.query_params.items() if k != "_format"}


#: The primitive ``value[x]`` types a terminology operation's input parameters take.
_PRIMITIVES = ("Uri", "Url", "Canonical", "Code", "String", "Id", "Boolean", "Integer",
               "UnsignedInt", "PositiveInt")  # fmt: skip


Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def get_and_post(router: APIRouter, path: str, summary: str) -> Callable[[Endpoint], Endpoint]:
    """Route ``path`` by GET and by POST to one endpoint: an operation that changes nothing
    may be called either way (FHIR R4 §3.1.0.12); the endpoint reads its input with
    :func:`operation_input`."""

    def register(endpoint: Endpoint) -> Endpoint:
        router.get(path, summary=summary)(endpoint)
        router.post(path, summary=f"{summary} [POST]")(endpoint)
        return endpoint

    return register


async def operation_input(request: Request, allowed: Sequence[str]) -> dict[str, str]:
    """An operation's input, from the query string (GET) or from a ``Parameters`` body (POST;
    FHIR R4 §3.1.0.12: an operation that changes nothing may be called either way), each
    parameter at most once and as text; an unknown one is 400."""
    if request.method != "POST":
        return query(request, allowed)
    query(request, ())  # a POST carries its parameters in the body; only _format in the URL
    given = read_parameters(await read_json(request, "Parameters"), dict.fromkeys(allowed, "1"))
    found: dict[str, str] = {}
    for name, (item, *_) in given.items():
        kind = next((k for k in _PRIMITIVES if f"value{k}" in item), None)
        if kind is None:
            raise FhirError(400, "invalid", f"参数 {name} 须为简单值 (parameter {name} must have "
                            "a primitive value[x])",
                            expression=f"Parameters.parameter.where(name='{name}')")  # fmt: skip
        value = item[f"value{kind}"]
        found[name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return found


def need(params: Mapping[str, str], name: str) -> str:
    value = params.get(name, "").strip()
    if not value:
        raise FhirError(400, "required", f"缺少参数 {name} (missing parameter {name})",
                        expression=name)  # fmt: skip
    return value


def language(params: Mapping[str, str]) -> str | None:
    """``displayLanguage``: zh or en (a region such as zh-CN is accepted)."""
    raw = params.get("displayLanguage")
    if raw is None:
        return None
    lang = raw.split("-")[0].lower()
    if lang not in LANGUAGES:
        raise FhirError(400, "not-supported", f"不支持的显示语言 (unsupported displayLanguage): "
                        f"{raw}; zh | en", expression="displayLanguage")  # fmt: skip
    return lang


def table_by_url(url: str, *, valueset: bool = False) -> CodeTable:
    table = (BY_VALUESET_URL if valueset else BY_URL).get(url)
    if table is None:
        kind = "ValueSet" if valueset else "CodeSystem"
        raise FhirError(404, "not-found", f"未知的{'值集' if valueset else '代码系统'} {url} "
                        f"(unknown {kind})", expression="url")  # fmt: skip
    return table


def table_by_id(resource_id: str, kind: str) -> CodeTable:
    table = BY_ID.get(resource_id)
    if table is None:
        raise FhirError(404, "not-found", f"{kind}/{resource_id} 不存在 (no such {kind})")
    return table


def instance_table(resource_id: str, kind: str, params: Mapping[str, str]) -> CodeTable:
    """The table of ``[kind]/[id]/$operation``; a ``url`` given as well must be its own (400)."""
    table = table_by_id(resource_id, kind)
    own = table.url if kind == "CodeSystem" else table.valueset_url
    if params.get("url", own) != own:
        what = "code system" if kind == "CodeSystem" else "value set"
        raise FhirError(400, "invalid", f"url 与 {kind}/{resource_id} 不符 (url does not match "
                        f"the {what})", expression="url")  # fmt: skip
    return table


def check_version(table: CodeTable, params: Mapping[str, str]) -> None:
    version = params.get("version")
    if version is not None and version != table.version:
        raise FhirError(404, "not-found", f"{table.url} 没有版本 {version}，现有 {table.version} "
                        "(no such version)", expression="version")  # fmt: skip


def operation_definition(
    resource: str, code: str, title: str, parameters: Iterable[Param], *, instance: bool
) -> dict[str, Any]:
    """Our OperationDefinition of a standard terminology operation: the parameters we serve,
    derived from HL7's (``base``)."""
    return parameters_operation_definition(
        code, title, title, tuple(parameters), affects_state=False, resource=resource,
        instance=instance, base=f"{HL7_OPERATION_BASE}/{resource}-{code}",
    )  # fmt: skip


def validation(
    table: CodeTable, code: str, display: str | None, lang: str | None
) -> dict[str, Any]:
    """The ``$validate-code`` answer: ``result``, ``message`` when false, ``display``."""
    concept = table.concept(code)
    if concept is None:
        return verdict(False, f"代码 '{code}' 不在《{table.title}》中 (code '{code}' is not "
                        f"in {table.url})")  # fmt: skip
    shown = display_in(concept, lang)
    if display is not None and display.strip() not in (concept.display, concept.english):
        wrong = f"'{concept.display}' 或 '{concept.english}'，收到 '{display}'"
        return verdict(False, f"代码 '{code}' 的显示名应为 {wrong} (wrong display)", shown)
    return verdict(True, None, shown)


def verdict(result: bool, message: str | None, display: str | None = None) -> dict[str, Any]:
    """A ``$validate-code`` answer (``result``, ``message``, ``display``) of both operations."""
    parameter: list[dict[str, Any]] = [{"name": "result", "valueBoolean": result}]
    if message:
        parameter.append({"name": "message", "valueString": message})
    if display:
        parameter.append({"name": "display", "valueString": display})
    return {"resourceType": "Parameters", "parameter": parameter}


#: The output of both ``$validate-code`` operations (FHIR R4 CodeSystem/ValueSet-validate-code).
VALIDATION_OUT = (
    Param("result", "out", 1, "1", "boolean", "代码是否有效 (whether the code is valid)"),
    Param("message", "out", 0, "1", "string", "无效的原因 (why it is not valid)"),
    Param("display", "out", 0, "1", "string", "代码的显示名 (the code's display)"),
)
