"""Load instances from the bundled suite, local files, or the Hugging Face hub.

A bad row never sinks the dataset: it becomes a `RowError` naming the row,
the instance id when known, and the field; the rest loads. Every load comes
with a `DatasetManifest` (source, split, revision, sha256 of the loaded
instances, count) for `run.started`.

Hub datasets (and local dataset directories, which `datasets` reads the same
way) go through `datasets.load_dataset`. A pinned revision is cached as JSONL
under `<cache>/hub/<name>@<revision>/<split>.jsonl`, written once under a
file lock, so concurrent preparations of one dataset are safe and a pinned
revision loads without the hub afterwards.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from events.payloads import DatasetManifest

from .instance import HARNESS_FIELDS, MACHINE_FIELDS, Instance
from .lock import default_cache_dir, file_lock

__all__ = ["DatasetError", "LoadedDataset", "RowError", "load_dataset", "manifest_of"]

MINI = "swebench-mini"
"""The built-in mini SWE-bench (`swebench_mini`): its rows, with its mirrors as `repos`."""
_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")


class DatasetError(RuntimeError):
    """The dataset as a whole cannot be read (not a single bad row)."""


@dataclass(frozen=True)
class RowError:
    row: int
    """0-based position in the source."""
    instance_id: str | None
    field: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row} ({self.instance_id or 'no instance_id'}): {self.field}: {self.message}"


@dataclass(frozen=True)
class LoadedDataset:
    instances: list[Instance]
    manifest: DatasetManifest
    errors: list[RowError]


def load_dataset(source: str | Path, split: str = "test", revision: str | None = None,
                 instance_filter: str | Collection[str] | None = None, limit: int | None = None,
                 cache_dir: Path | str | None = None, repos: str | None = None) -> LoadedDataset:
    """source: `bundled`, `swebench-mini`, a .json/.jsonl/.parquet file, a local dataset
    directory, or a hub name. instance_filter: a regex searched for in the instance_id, or a
    collection of ids. limit applies after the filter. repos: where the repositories
    of rows without a `repo_path` are (a mirrors directory or a URL template)."""
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    rows, row_errors, pinned, base_dir = _read_source(str(source), split, revision, cache)
    if str(source) == MINI and not repos:
        from .swebench_mini import ensure_swebench_mini
        repos = str(ensure_swebench_mini(cache).mirrors)
    instances, errors = _validate(rows, base_dir)
    instances = _select(instances, instance_filter, limit)
    if repos:
        instances = [i if i.repo_path else i.model_copy(update={"repos": repos}) for i in instances]
    manifest = manifest_of(instances, source=str(source), split=split, revision=pinned)
    return LoadedDataset(instances, manifest, sorted(row_errors + errors, key=lambda e: e.row))


def manifest_of(instances: list[Instance], source: str, split: str,
                revision: str) -> DatasetManifest:
    """The manifest pins content: sha256 of the canonical JSON of the instances
    (without `repo_path` and `repos`, which differ between machines; the harness's
    columns only where a row has them, so older datasets keep their hash)."""
    canonical = json.dumps([_content(i) for i in instances], sort_keys=True, separators=(",", ":"))
    return DatasetManifest(source=source, split=split, revision=revision,
                           sha256=hashlib.sha256(canonical.encode()).hexdigest(),
                           count=len(instances), instance_ids=[i.instance_id for i in instances],
                           repos=dict(Counter(i.repo for i in instances)))


def _content(instance: Instance) -> dict[str, Any]:
    data = instance.model_dump(exclude=set(MACHINE_FIELDS))
    for name in HARNESS_FIELDS:
        if not data.get(name):
            data.pop(name, None)
    return data


def _read_source(source: str, split: str, revision: str | None,
                 cache: Path) -> tuple[list[Any], list[RowError], str, Path | None]:
    if source == "bundled":
        from .bundled import ensure_bundled, suite_digest
        rows = [i.model_dump() for i in ensure_bundled(cache)]
        return rows, [], f"bundled-{suite_digest()}", None
    if source == MINI:
        from .swebench_mini import ensure_swebench_mini, suite_digest as mini_digest
        return ensure_swebench_mini(cache).rows(), [], f"{MINI}-{mini_digest()}", None
    path = Path(source).expanduser()
    if path.is_file():
        rows, errors = _read_file(path, split)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        return rows, errors, f"sha256:{digest}", path.parent
    if path.is_dir() or _HUB_NAME.match(source):
        rows, pinned = _read_hub(source, split, revision, cache)
        return rows, [], pinned, path if path.is_dir() else None
    raise DatasetError(f"dataset source {source!r} is not `bundled`, `{MINI}`, an existing file or "
                       f"directory, or a hub name like princeton-nlp/SWE-bench_Lite")


def _read_file(path: Path, split: str) -> tuple[list[Any], list[RowError]]:
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return _read_jsonl(path)
    if suffix == ".json":
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DatasetError(f"{path}: not valid JSON: {exc}") from exc
        if isinstance(data, dict):
            data = data.get(split, data.get("instances"))
        if not isinstance(data, list):
            raise DatasetError(f"{path}: expected a list of rows (or a {split!r}/'instances' key)")
        return data, []
    if suffix == ".parquet":
        import pyarrow.parquet as pq
        try:
            return pq.read_table(path).to_pylist(), []
        except Exception as exc:  # pyarrow raises several unrelated types
            raise DatasetError(f"{path}: not a readable parquet file: {exc}") from exc
    raise DatasetError(f"{path}: unknown dataset format {suffix!r} (use .json, .jsonl, .parquet)")


def _read_jsonl(path: Path) -> tuple[list[Any], list[RowError]]:
    rows: list[Any] = []
    errors = []
    lines = path.read_text(errors="replace").splitlines()
    for i, line in enumerate(lines):
        if not line.strip():
            rows.append(None)
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            rows.append(None)
            errors.append(RowError(i, None, "<json>", f"line {i + 1} is not JSON: {exc}"))
    return rows, errors


def _read_hub(name: str, split: str, revision: str | None, cache: Path) -> tuple[list[Any], str]:
    key = re.sub(r"[^\w.\-]", "_", name.strip("/")) + f"@{revision or 'unpinned'}"
    entry = cache / "hub" / key / f"{split}.jsonl"
    with file_lock(cache / "hub" / f"{key}.lock"):
        if revision and entry.is_file():
            return [json.loads(line) for line in entry.read_text().splitlines()], revision
        rows, fingerprint = _hub_fetch(name, split, revision, cache)
        if revision:
            _write_atomic(entry, "".join(json.dumps(r, default=str) + "\n" for r in rows))
    return rows, revision or f"unpinned:{fingerprint}"


def _hub_fetch(name: str, split: str, revision: str | None, cache: Path) -> tuple[list[Any], str]:
    import datasets

    try:
        ds = datasets.load_dataset(name, split=split, revision=revision,
                                   cache_dir=str(cache / "hf"))
    except Exception as exc:  # network, auth, missing split: all mean "cannot read it"
        raise DatasetError(f"cannot load {name!r} split {split!r} "
                           f"(revision {revision or 'latest'}): {exc}") from exc
    return ds.to_list(), getattr(ds, "_fingerprint", "") or ""


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _validate(rows: list[Any], base_dir: Path | None) -> tuple[list[Instance], list[RowError]]:
    instances: list[Instance] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for i, row in enumerate(rows):
        if row is None:
            continue
        if not isinstance(row, dict):
            errors.append(RowError(i, None, "<row>", f"expected an object, got {type(row).__name__}"))
            continue
        iid = row.get("instance_id") if isinstance(row.get("instance_id"), str) else None
        try:
            instance = Instance.model_validate(_resolve_repo_path(row, base_dir))
        except ValidationError as exc:
            errors += [RowError(i, iid, ".".join(map(str, e["loc"])) or "<row>",
                                _message(e["msg"]))
                       for e in exc.errors()]
            continue
        if instance.instance_id in seen:
            errors.append(RowError(i, iid, "instance_id",
                                   f"duplicate of row {seen[instance.instance_id]}"))
            continue
        seen[instance.instance_id] = i
        instances.append(instance)
    return instances, errors


def _resolve_repo_path(row: dict, base_dir: Path | None) -> dict:
    repo_path = row.get("repo_path")
    if isinstance(repo_path, str) and base_dir is not None and not os.path.isabs(repo_path):
        return {**row, "repo_path": str((base_dir / repo_path).resolve())}
    return row


def _select(instances: list[Instance], instance_filter: str | Collection[str] | None,
            limit: int | None) -> list[Instance]:
    if isinstance(instance_filter, str):
        pattern = re.compile(instance_filter)
        instances = [i for i in instances if pattern.search(i.instance_id)]
    elif instance_filter is not None:
        wanted = set(instance_filter)
        instances = [i for i in instances if i.instance_id in wanted]
    return instances[:limit] if limit is not None else instances


def _message(msg: str) -> str:
    return msg.removeprefix("Value error, ")
