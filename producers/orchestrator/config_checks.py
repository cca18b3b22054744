"""Checks of a RunConfig against the machine, before anything is created.

The model (config.py) checks what a value can be; these check what it names:
files and directories (exist, or can be created and written), log URLs (their
options, a Kafka cluster answering within `KAFKA_TIMEOUT_S`), upstreams (a
`callable:` module and attribute, an `hf:` model directory, an `openai:` URL, a
`replay:` log). Each problem is (field path, message); nothing here writes: the
writability probe is an unnamed O_TMPFILE-style temporary file, gone when closed.
"""
from __future__ import annotations

import importlib
import os
import re
import socket
import tempfile
from pathlib import Path
from typing import Iterator
from urllib.parse import urlparse

__all__ = ["runtime_problems", "KAFKA_TIMEOUT_S", "log_url_problem"]

KAFKA_TIMEOUT_S = 3.0
_DATASET_FORMATS = (".json", ".jsonl", ".parquet")
_HUB = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")

Problem = tuple[tuple, str]


def runtime_problems(cfg) -> list[Problem]:
    """Every problem found, in the order of the file's sections."""
    out: list[Problem] = []
    out += _log_problems(("log",), cfg.log)
    out += _dataset_problems(cfg)
    out += _upstream_problems(cfg.model.upstream)
    for name in ("lake", "artifacts"):
        problem = _directory_problem(getattr(cfg, name))
        if problem:
            out.append(((name,), problem))
    return out


def _log_problems(field: tuple, url: str) -> list[Problem]:
    problem = log_url_problem(url)
    return [(field, problem)] if problem else []


def log_url_problem(url: str, *, must_exist: bool = False) -> str | None:
    """What is wrong with a log URL on this machine, or None."""
    if url.startswith("sqlite:"):
        from events.log.sqlite import parse_sqlite_url

        try:
            path, _, _ = parse_sqlite_url(url)
        except ValueError as exc:
            return str(exc)
        if must_exist:
            return None if path.is_file() else f"no log at {path}"
        if path.is_dir():
            return f"{path} is a directory, not a log file"
        return None if path.exists() else _creatable(path.parent, "the log's directory")
    if url.startswith("kafka:"):
        from events.log.kafka_options import parse_kafka_url

        try:
            opts = parse_kafka_url(url)
        except ValueError as exc:
            return str(exc)
        return _kafka_unreachable(opts.bootstrap)
    return f"unsupported log URL {url!r}: expected sqlite:///PATH or kafka://HOST:PORT"


def _kafka_unreachable(bootstrap: tuple[str, ...]) -> str | None:
    errors = []
    for server in bootstrap:
        host, _, port = server.rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=KAFKA_TIMEOUT_S):
                return None
        except (OSError, ValueError) as exc:
            errors.append(f"{server}: {getattr(exc, 'strerror', None) or exc}")
    return (f"no Kafka broker answers within {KAFKA_TIMEOUT_S:g} s ({'; '.join(errors)}); "
            "start one (python -m infra.broker) or fix the address")


def _dataset_problems(cfg) -> list[Problem]:
    out: list[Problem] = []
    problem = _directory_problem(cfg.dataset.cache_dir)
    if problem:
        out.append((("dataset", "cache_dir"), problem))
    source = cfg.dataset.source
    if source in _built_in_datasets():
        return out
    path = Path(source).expanduser()
    if path.is_file() or path.is_dir():
        return out
    if path.suffix.lower() in _DATASET_FORMATS or source.startswith((".", "/", "~")):
        out.append((("dataset", "source"), f"no dataset file at {path}"))
    elif not _HUB.match(source):
        names = ", ".join(f"`{n}`" for n in sorted(_built_in_datasets()))
        out.append((("dataset", "source"), f"{source!r} is not {names}, an existing file or directory, "
                    "or a hub name like princeton-nlp/SWE-bench_Lite"))
    return out


def _built_in_datasets() -> set[str]:
    from producers.datasets import loader

    return {"bundled", getattr(loader, "MINI", "bundled")}


def _upstream_problems(spec: str) -> list[Problem]:
    kind, _, rest = spec.partition(":")
    field = ("model", "upstream")
    problem = {"callable": _callable_problem, "hf": _hf_problem, "openai": _url_problem,
               "replay": _replay_problem}.get(kind, lambda _: None)(rest)
    return [(field, problem)] if problem else []


def _callable_problem(target: str) -> str | None:
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        return f"callable:{target}: expected callable:module:attr"
    try:
        obj = importlib.import_module(module_name)
    except ImportError as exc:
        return f"callable:{target}: cannot import {module_name} ({exc})"
    for part in attr.split("."):
        if not hasattr(obj, part):
            return f"callable:{target}: {module_name} has no attribute {attr}"
        obj = getattr(obj, part)
    return None


def _hf_problem(target: str) -> str | None:
    if not target:
        return "hf: needs a model: hf:tiny or hf:PATH (a local Hugging Face model directory)"
    if target == "tiny" or Path(target).expanduser().is_dir():
        return None
    from trainer.packaged import PACKAGED, ModelUnavailable, gguf_path

    if target in PACKAGED:
        try:
            gguf_path(PACKAGED[target])
        except ModelUnavailable as exc:
            return f"hf:{target}: {exc}"
        return None
    return (f"hf:{target}: no model directory at {Path(target).expanduser()} "
            f"(or use hf:tiny, or a packaged model: {', '.join(sorted(PACKAGED))})")


def _url_problem(url: str) -> str | None:
    parsed = urlparse(url)
    try:
        port = parsed.port
    except ValueError as exc:
        return f"openai:{url}: {exc}"
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return f"openai:{url}: expected an http(s) URL with a host, e.g. openai:http://127.0.0.1:8000/v1"
    return None if port is None or 0 < port < 65536 else f"openai:{url}: port {port} out of range"


def _replay_problem(log_url: str) -> str | None:
    url = log_url.split("#", 1)[0]
    problem = log_url_problem(url, must_exist=True) if url else "replay: needs the URL of a recorded log"
    return None if problem is None else f"replay:{log_url}: {problem}"


def _directory_problem(path_text: str) -> str | None:
    path = Path(path_text).expanduser()
    if path.exists() and not path.is_dir():
        return f"{path} exists and is not a directory"
    return _creatable(path, str(path))


def _creatable(path: Path, what: str) -> str | None:
    """None when `path` (a directory) exists and is writable or could be created."""
    for ancestor in _ancestors(path):
        if not ancestor.exists():
            continue
        if not ancestor.is_dir():
            return f"cannot create {what}: {ancestor} is not a directory"
        try:
            with tempfile.TemporaryFile(dir=ancestor):
                return None
        except OSError as exc:
            return f"cannot create {what}: {ancestor} is not writable ({exc.strerror or exc})"
    return f"cannot create {what}: no existing parent directory"


def _ancestors(path: Path) -> Iterator[Path]:
    path = Path(os.path.abspath(path))
    yield path
    yield from path.parents
