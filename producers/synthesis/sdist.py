"""Pinned source distributions from the package index, cached by sha256.

    <cache>/synthesis/sdists/<sha256>/<file>         the archive, as downloaded
    <cache>/synthesis/sdists/<name>==<version>.json  {"sha256", "file"}: the pin's last download

`pip download --no-binary :all: --no-deps NAME==VERSION` fetches it once; with
the config's `sha256` a cached archive is used without asking the index, and a
download whose digest differs is refused.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from producers.datasets.lock import file_lock

__all__ = ["Sdist", "SdistError", "fetch_sdist"]

_ARCHIVES = (".tar.gz", ".zip", ".tar.bz2", ".tgz")


class SdistError(RuntimeError):
    """The sdist could not be fetched or does not match its pin."""


@dataclass(frozen=True)
class Sdist:
    name: str
    version: str
    path: Path
    sha256: str


def fetch_sdist(name: str, version: str, cache_dir: Path, sha256: str | None = None,
                timeout_s: float = 600.0) -> Sdist:
    root = Path(cache_dir) / "synthesis" / "sdists"
    pin = root / f"{name}=={version}.json"
    with file_lock(root / f"{name}=={version}.lock"):
        cached = _cached(root, pin, sha256)
        if cached is not None:
            return Sdist(name, version, cached, cached.parent.name)
        scratch = Path(tempfile.mkdtemp(prefix=".download-", dir=_mkdir(root)))
        try:
            archive = _download(name, version, scratch, timeout_s)
            digest = _sha256(archive)
            if sha256 is not None and digest != sha256:
                raise SdistError(f"{name}=={version}: the downloaded sdist has sha256 {digest}, "
                                 f"the config pins {sha256}")
            final = _mkdir(root / digest) / archive.name
            os.replace(archive, final)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        _write_json(pin, {"sha256": digest, "file": final.name})
        return Sdist(name, version, final, digest)


def _cached(root: Path, pin: Path, sha256: str | None) -> Path | None:
    digest = sha256
    if digest is None:
        try:
            digest = json.loads(pin.read_text())["sha256"]
        except (OSError, ValueError, KeyError):
            return None
    folder = root / str(digest)
    files = sorted(folder.glob("*")) if folder.is_dir() else []
    for path in files:
        if path.name.endswith(_ARCHIVES) and _sha256(path) == digest:
            return path
    return None


def _download(name: str, version: str, scratch: Path, timeout_s: float) -> Path:
    argv = [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
            "--disable-pip-version-check", "-q", "-d", str(scratch), f"{name}=={version}"]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PIP_NO_INDEX")}
    try:
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise SdistError(f"{name}=={version}: pip download ran past {timeout_s:g}s") from None
    archives = [p for p in scratch.iterdir() if p.name.endswith(_ARCHIVES)]
    if proc.returncode != 0 or len(archives) != 1:
        raise SdistError(f"{name}=={version}: `pip {' '.join(argv[3:])}` failed "
                         f"(exit {proc.returncode}): {proc.stderr.strip()[-800:]}")
    return archives[0]


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, sort_keys=True))
    os.replace(tmp, path)
