"""DESIGN.md "Layers": imports point down only.

``fhir``, ``hl7v2``, ``console``, ``cli`` → ``ihe`` → ``core`` → (``terminology``, ``crypto``);
``storage`` implements the ports of ``core``.  Each package may import only what is listed.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

import ehcmpi

ROOT = pathlib.Path(ehcmpi.__path__[0])
BASE = ("terminology", "crypto")
#: package → ehcmpi packages it may import (besides itself and third-party libraries).
MAY_IMPORT: dict[str, tuple[str, ...]] = {
    "terminology": (),
    "crypto": (),
    "core": BASE,
    "storage": ("core", *BASE),
    "ihe": ("core", *BASE),
    # adapters to systems outside the index (the insurance verifier), like storage
    "external": ("core", *BASE),
    "hl7v2": ("ihe", "core", "bootstrap", "settings", *BASE),
    "fhir": ("ihe", "core", "bootstrap", "settings", *BASE),
    "console": ("ihe", "core", "bootstrap", "settings", *BASE),
}


def _ehcmpi_imports(path: pathlib.Path) -> set[str]:
    """The first-level ehcmpi subpackages or modules that a file imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "ehcmpi" and len(parts) > 1:
                found.add(parts[1])
    return found


def _violations(package: str, files: list[pathlib.Path]) -> set[str]:
    allowed = {package, *MAY_IMPORT[package]}
    known = {p.name for p in ROOT.iterdir() if p.is_dir()} | {p.stem for p in ROOT.glob("*.py")}
    return {
        f"{path.name} imports ehcmpi.{name}"
        for path in files
        for name in _ehcmpi_imports(path) & known
        if name not in allowed
    }


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_imports_point_down(package: str) -> None:
    assert (ROOT / package / "__init__.py").exists()
    assert not _violations(package, sorted((ROOT / package).glob("**/*.py")))


def test_the_check_sees_an_upward_import(tmp_path: pathlib.Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from ehcmpi.storage.uow import SqlUnitOfWork\nimport ehcmpi.fhir.app\n")
    assert _violations("core", [bad]) == {
        "bad.py imports ehcmpi.storage",
        "bad.py imports ehcmpi.fhir",
    }
    assert _violations("fhir", [bad]) == {"bad.py imports ehcmpi.storage"}
