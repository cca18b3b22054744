"""Where `import-predictions --evaluate` gets its instances and sandboxes."""
from __future__ import annotations

from typing import Any

__all__ = ["load_instances", "make_sandbox_factory"]


def load_instances(source: str, split: str = "test", cache_dir: str | None = None):
    """The dataset (`producers.datasets.load_dataset`): `.instances`, `.manifest`, `.errors`.
    Raises `producers.datasets.DatasetError` with a clear message when it cannot be read."""
    from producers.datasets import load_dataset

    return load_dataset(source, split=split, cache_dir=cache_dir)


def make_sandbox_factory() -> Any:
    from producers.sandbox.local import LocalSandboxFactory

    return LocalSandboxFactory()
