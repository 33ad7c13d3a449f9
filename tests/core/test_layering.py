"""DESIGN.md "Layers": the domain core imports only the standard library and its ports."""

from __future__ import annotations

import ast
import pathlib
import sys

import ehcmpi.core

CORE_DIR = pathlib.Path(ehcmpi.core.__path__[0])
ALLOWED_PACKAGES = ("ehcmpi.core", "ehcmpi.terminology", "ehcmpi.crypto")


def _imports(path: pathlib.Path) -> list[tuple[int, str]]:
    """Every absolute module name a file imports, relative imports resolved in ehcmpi.core."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, _absolute(node)))
    return found


def _absolute(node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = ["ehcmpi", "core"][: 3 - node.level]  # "." is ehcmpi.core, ".." is ehcmpi
    return ".".join([*package, *([node.module] if node.module else [])])


def _allowed(module: str) -> bool:
    top = module.partition(".")[0]
    if top in sys.stdlib_module_names:
        return True
    return any(module == p or module.startswith(p + ".") for p in ALLOWED_PACKAGES)


def test_core_imports_no_framework() -> None:
    files = sorted(CORE_DIR.rglob("*.py"))  # subpackages too (core/matching/…)
    assert len(files) >= 30  # the walk really saw the core modules and the matching engine

    offending = [
        f"{path.relative_to(CORE_DIR)}:{line}: {module}"
        for path in files
        for line, module in _imports(path)
        if not _allowed(module)
    ]

    assert offending == [], "ehcmpi.core must not import: " + ", ".join(offending)


def test_the_layering_check_recognises_framework_imports() -> None:
    relative = ast.parse("from ..storage import uow\nfrom .model import Actor\n").body
    assert isinstance(relative[0], ast.ImportFrom) and isinstance(relative[1], ast.ImportFrom)
    assert _absolute(relative[0]) == "ehcmpi.storage"
    assert _absolute(relative[1]) == "ehcmpi.core.model"
    for module in ("sqlalchemy", "fastapi.routing", "ehcmpi.storage.uow", "ehcmpi.fhir", "hl7apy"):
        assert not _allowed(module), module
    for module in ("dataclasses", "__future__", "ehcmpi.core.model", "ehcmpi.crypto.ports"):
        assert _allowed(module), module
