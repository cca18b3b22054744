"""Candidate bugs: SWE-smith's procedural modifiers on the functions the suite covers.

The modifiers are SWE-smith's own (`swesmith.bug_gen.procedural.python.MODIFIERS_PYTHON`,
used as a library), and so is the patch (`generate_patch_fast`). Two things are ours:

- which pairs: every (covered entity, modifier) whose `can_change` accepts the entity,
  ordered by sha256(seed, project, entity, modifier) — a seeded shuffle that does not
  depend on how many pairs there are or in which order files were read;
- determinism: each pair gets a fresh modifier instance seeded from that same hash
  (the library's module-level instances share one random state, so results would
  depend on what ran before).

The stream is lazy: a modifier runs only when the pair's turn comes.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .entities import entity_key, extract_entities, source_files

__all__ = ["Candidate", "candidate_stream", "modifier_names", "resolve_modifiers"]


@dataclass(frozen=True)
class Candidate:
    candidate_id: str
    order: int
    """Position of the pair in the project's seeded order (gaps where a modifier made nothing)."""
    modifier: str
    file: str
    entity: str
    """`name@line_start` of SWE-smith's entity."""
    key: str
    """The entity's key in the baseline's coverage map (`file::name::line`)."""
    bug_patch: str
    """pristine -> buggy, as SWE-smith writes it."""

    @property
    def patch_sha256(self) -> str:
        return hashlib.sha256(self.bug_patch.encode()).hexdigest()


def _library() -> list[Any]:
    from swesmith.bug_gen.procedural.python import MODIFIERS_PYTHON

    return list(MODIFIERS_PYTHON)


def modifier_names() -> list[str]:
    return [m.name for m in _library()]


def resolve_modifiers(names: list[str]) -> list[Any]:
    """The library's modifiers with these names (all when empty); unknown names are an error."""
    library = _library()
    if not names:
        return library
    by_name = {m.name: m for m in library}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ValueError(f"unknown modifier(s) {', '.join(unknown)}; known: {', '.join(sorted(by_name))}")
    return [by_name[n] for n in dict.fromkeys(names)]


def candidate_stream(tree: Path, sources: list[str], coverage: dict[str, list[str]],
                     modifier_names_: list[str], seed: int, project: str,
                     variants: int = 1) -> Iterator[Candidate]:
    """Candidates in seeded order; `variants` seeds per (entity, modifier) pair (the
    modifiers' choices are random, so another seed may make another bug)."""
    from swesmith.bug_gen.utils import generate_patch_fast

    pairs = []
    modifiers = resolve_modifiers(modifier_names_)
    for rel in source_files(tree, sources):
        for entity in extract_entities(tree, rel):
            key = entity_key(rel, entity)
            if key not in coverage:
                continue
            for modifier in modifiers:
                if not modifier.can_change(entity):
                    continue
                for variant in range(variants):
                    tag = f"{seed}:{project}:{key}:{modifier.name}" + (f":{variant}" if variant else "")
                    pairs.append((hashlib.sha256(tag.encode()).hexdigest(), key, entity, rel, modifier))
    pairs.sort(key=lambda p: p[0])
    for order, (digest, key, entity, rel, library_modifier) in enumerate(pairs):
        modifier = type(library_modifier)(likelihood=library_modifier.likelihood, seed=int(digest[:12], 16))
        bug = modifier.modify(entity)
        patch = generate_patch_fast(entity, bug, str(tree)) if bug is not None else None
        if patch:
            yield Candidate(candidate_id=digest[:16], order=order, modifier=modifier.name, file=rel,
                            entity=f"{entity.name}@{entity.line_start}", key=key, bug_patch=patch)
