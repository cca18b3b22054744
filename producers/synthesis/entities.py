"""The functions and classes of a project's source, as SWE-smith sees them.

Entities come from SWE-smith's own Python adapter (`get_entities_from_file_py`):
one per function, method and class, with its line range. Test files inside the
source paths are left out.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["entity_key", "extract_entities", "source_files"]

_TEST_DIRS = {"tests", "test", "testing"}


def source_files(tree: Path, sources: list[str]) -> list[str]:
    """Python files (relative, sorted) under the source paths, test files excluded."""
    found: set[str] = set()
    for source in sources:
        path = tree / source
        if path.is_file() and path.suffix == ".py":
            found.add(path.relative_to(tree).as_posix())
        elif path.is_dir():
            found.update(p.relative_to(tree).as_posix() for p in path.rglob("*.py"))
    return sorted(f for f in found if not _is_test(f))


def _is_test(rel: str) -> bool:
    parts = rel.split("/")
    name = parts[-1]
    return (name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"
            or any(p in _TEST_DIRS for p in parts[:-1]))


def extract_entities(tree: Path, rel: str) -> list[Any]:
    """SWE-smith `PythonEntity`s of one file (their `file_path` is the absolute path)."""
    from swesmith.bug_gen.adapters.python import get_entities_from_file_py

    entities: list[Any] = []
    get_entities_from_file_py(entities, str(tree / rel))
    return entities


def entity_key(rel: str, entity: Any) -> str:
    return f"{rel}::{entity.name}::{entity.line_start}"
