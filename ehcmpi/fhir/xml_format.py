"""FHIR XML ⇄ the JSON shape every handler works with (FHIR R4 §2.6 XML representation).

Handlers read and build resources as JSON-shaped dicts; XML exists only at the edge:
:func:`xml_to_resource` turns a request body into that dict, :func:`resource_to_xml` renders
a response.  Both are driven by the ``fhir.resources`` (R4B) model classes, which know each
element's type, cardinality and order — the knowledge a FHIR XML converter cannot do without
(XML element order is significant; JSON arrays and primitive types are not visible in XML).

Reading (§2.6.1–2.6.3): a primitive's ``value`` attribute becomes a JSON string, boolean or
number by its FHIR type; its ``id`` attribute and ``extension`` children go to ``_element``
(parallel arrays with ``null`` for repeating elements); an element's ``id`` attribute and an
extension's ``url`` are properties; ``div`` keeps its XHTML as a string; a contained resource
(``contained``, ``Bundle.entry.resource``, ``Parameters.parameter.resource``…) is the element
named after its type.  It is our own rather than the library's loader because errors must name
the element (``Patient.identifier[0].period.start``), and the library reports only the innermost
type.  No DTD, no entity expansion, no network access: a hostile body cannot read files.

Writing uses the library's serialiser (``model_dump_xml``) on the validated model, so a
response is also checked against the model before it leaves.
"""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir_core.utils import (
    determine_version_prefix_from_class,
    get_fhir_type_name,
    is_list_type,
    is_primitive_type,
)
from lxml import etree

from ehcmpi.fhir.outcome import FhirError

FHIR_NS = "http://hl7.org/fhir"
XHTML_NS = "http://www.w3.org/1999/xhtml"
_INTEGERS = frozenset({"integer", "positiveInt", "unsignedInt", "integer64"})


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False, no_network=True, remove_comments=True, remove_pis=True,
        load_dtd=False, huge_tree=False,
    )  # fmt: skip


def _bad(message: str, where: str | None = None) -> FhirError:
    return FhirError(400, "structure", f"XML 格式错误 (malformed FHIR XML): {message}",
                     expression=where)  # fmt: skip


def _model(type_name: str, where: str) -> Any:
    try:
        return get_fhir_model_class(type_name)
    except (KeyError, ValueError):
        raise _bad(f"未知的资源类型 (unknown resource type) '{type_name}'", where) from None


def _local(el: Any, where: str) -> str:
    qname = etree.QName(el)
    if qname.namespace != FHIR_NS:
        raise _bad(f"元素 '{qname.localname}' 不在 FHIR 命名空间 {FHIR_NS} 中 "
                   "(element not in the FHIR namespace)", where or None)  # fmt: skip
    return str(qname.localname)


def xml_to_resource(data: bytes) -> dict[str, Any]:
    """A FHIR XML resource as its JSON-shaped dict; 400 ``structure`` if it is not one."""
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise _bad(str(exc)) from None
    if root.getroottree().docinfo.doctype:
        raise _bad("不接受 DOCTYPE (a DOCTYPE is not allowed)")
    return _resource(root, "")


def _resource(el: Any, where: str) -> dict[str, Any]:
    """A resource element; ``where`` is the path of the element holding it ("" at the root)."""
    name = _local(el, where or "")
    path = where or name
    return {"resourceType": name, **_complex(el, _model(name, path), path)}


def _complex(el: Any, cls: Any, path: str) -> dict[str, Any]:
    allowed = {"id", "url"} if cls.get_resource_type() == "Extension" else {"id"}
    unexpected = sorted(set(el.attrib) - allowed)
    if unexpected:
        raise _bad(f"{path}: 不支持的属性 (unexpected attribute) {unexpected[0]}", path)
    out: dict[str, Any] = dict(el.attrib)
    aliases = cls.get_alias_mapping()
    prefix = determine_version_prefix_from_class(cls)
    for child in el:
        name = "div" if etree.QName(child).localname == "div" else _local(child, path)
        if name not in aliases or name == "resourceType":
            raise _bad(f"未知元素 (unknown element) {path}.{name}", f"{path}.{name}")
        field = cls.model_fields[aliases[name]]
        repeats = is_list_type(field)
        where = f"{path}.{name}" + (f"[{len(out.get(name, []))}]" if repeats else "")
        if not repeats and (name in out or f"_{name}" in out):
            raise _bad(f"元素不可重复 (element repeated) {where}", where)
        type_name = get_fhir_type_name(field, prefix=prefix)
        if is_primitive_type(field):
            _primitive(out, name, child, type_name, repeats, where)
        elif repeats:
            out.setdefault(name, []).append(_value(child, type_name, where))
        else:
            out[name] = _value(child, type_name, where)
    for key, shadows in out.items():  # pad ``_x`` to the length of ``x`` (FHIR JSON §2.6.2)
        if key.startswith("_") and isinstance(shadows, list):
            shadows.extend([None] * (len(out[key[1:]]) - len(shadows)))
    return out


def _value(child: Any, type_name: str, where: str) -> dict[str, Any]:
    if type_name != "Resource":
        return _complex(child, _model(type_name, where), where)
    inner = list(child)
    if len(inner) != 1:
        raise _bad(f"{where} 须恰好包含一个资源 (must hold exactly one resource)", where)
    return _resource(inner[0], where)


def _primitive(
    out: dict[str, Any], name: str, child: Any, type_name: str, repeats: bool, where: str
) -> None:
    if type_name == "xhtml":
        if etree.QName(child).namespace != XHTML_NS:
            raise _bad(f"{where} 须为 XHTML div (must be an XHTML div)", where)
        out[name] = etree.tostring(child, encoding="unicode", with_tail=False)
        return
    unexpected = sorted(set(child.attrib) - {"value", "id"})
    if unexpected:
        raise _bad(f"{where}: 不支持的属性 (unexpected attribute) {unexpected[0]}", where)
    extra: dict[str, Any] = {"id": child.get("id")} if child.get("id") is not None else {}
    extensions = []
    for i, ext in enumerate(child):
        if _local(ext, where) != "extension":
            raise _bad(f"{where} 只能含 extension (only extensions inside a primitive)", where)
        extensions.append(_complex(ext, _model("Extension", where), f"{where}.extension[{i}]"))
    if extensions:
        extra["extension"] = extensions
    raw = child.get("value")
    if raw is None and not extra:
        raise _bad(f"{where} 缺少 value 属性 (value attribute missing)", where)
    value = None if raw is None else _typed(raw, type_name, where)
    if not repeats:
        if value is not None:
            out[name] = value
        if extra:
            out[f"_{name}"] = extra
        return
    values = out.setdefault(name, [])
    values.append(value)
    if extra:
        shadows = out.setdefault(f"_{name}", [])
        shadows.extend([None] * (len(values) - 1 - len(shadows)))
        shadows.append(extra)


def _typed(raw: str, type_name: str, where: str) -> Any:
    if type_name == "boolean":
        if raw not in ("true", "false"):
            raise _bad(f"{where}: 布尔值须为 true 或 false (boolean expected): {raw}", where)
        return raw == "true"
    try:
        if type_name in _INTEGERS:
            return int(raw)
        if type_name == "decimal":
            return int(raw) if raw.lstrip("+-").isdigit() else float(raw)
    except ValueError:
        raise _bad(f"{where}: 数值无效 (not a {type_name}): {raw}", where) from None
    return raw


def resource_to_xml(resource: dict[str, Any]) -> bytes:
    """Render a JSON-shaped resource as FHIR XML (element order from the R4B model)."""
    model = get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    rendered = model.model_dump_xml(xml_declaration=True)
    return rendered if isinstance(rendered, bytes) else str(rendered).encode("utf-8")
