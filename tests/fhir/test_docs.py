"""Interactive API docs at ``/docs`` (Swagger UI) and ``/redoc``, usable on an intranet without
internet access: every script and stylesheet they load is served by ehcmpi itself."""

from __future__ import annotations

import re

import httpx

_ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
_SCRIPT_URL = re.compile(r"""\b(?:url|specUrl|spec-url)\s*[:=]\s*["']([^"']+)["']""")


def _root(fhir_base: str) -> str:
    return fhir_base.removesuffix("/fhir")


def test_swagger_ui_and_redoc_load_everything_from_this_server(fhir_base: str) -> None:
    with httpx.Client(base_url=_root(fhir_base), timeout=10) as client:
        for page in ("/docs", "/redoc"):
            response = client.get(page)
            assert response.status_code == 200, page
            assert response.headers["content-type"].startswith("text/html")
            assets = _ASSET.findall(response.text)
            assert any(a.endswith(".js") for a in assets), (page, assets)
            for asset in assets:
                assert asset.startswith("/"), f"{page} loads {asset} from another host"
                fetched = client.get(asset)
                assert fetched.status_code == 200, asset
                assert len(fetched.content) > 1000 or asset.endswith(".png"), asset
            assert "/openapi.json" in response.text


def test_openapi_lists_every_fhir_route_with_a_summary(fhir_base: str) -> None:
    spec = httpx.get(f"{_root(fhir_base)}/openapi.json", timeout=10).json()
    fhir_paths = {path: ops for path, ops in spec["paths"].items() if path.startswith("/fhir")}

    for path, operations in fhir_paths.items():
        for method, operation in operations.items():
            assert operation.get("summary"), f"{method.upper()} {path} has no summary"
            assert "FHIR" in operation["tags"]
    for path, method in (
        ("/fhir/metadata", "get"), ("/fhir/Patient", "post"), ("/fhir/Patient", "get"),
        ("/fhir/Patient/{patient_id}", "get"), ("/fhir/Patient/$ihe-pix", "get"),
        ("/fhir/CodeSystem", "get"), ("/fhir/CodeSystem/{codesystem_id}", "get"),
        ("/fhir/CodeSystem/$lookup", "get"), ("/fhir/CodeSystem/$validate-code", "get"),
        ("/fhir/ValueSet/{valueset_id}", "get"), ("/fhir/ValueSet/$validate-code", "get"),
        ("/fhir/ValueSet/{valueset_id}/$expand", "get"),
        ("/fhir/OperationDefinition/{definition}", "get"),
    ):  # fmt: skip
        assert method in fhir_paths.get(path, {}), f"{method.upper()} {path} not documented"
