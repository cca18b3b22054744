"""Where `import-predictions --evaluate` gets its instances and sandboxes."""
from __future__ import annotations

from typing import Any

__all__ = ["load_instances", "make_sandbox_factory"]


def load_instances(source: str, split: str = "test") -> dict[str, Any]:
    """instance_id -> instance: `bundled` (generated into $LEDGER_CACHE_DIR), else the
    datasets loader (a local .json/.jsonl/.parquet file or a hub name)."""
    if source == "bundled":
        from producers.datasets.bundled import ensure_bundled

        return {inst.instance_id: inst for inst in ensure_bundled()}
    from producers.datasets import load_dataset

    loaded = load_dataset(source, split=split)
    instances = getattr(loaded, "instances", loaded)
    return {inst.instance_id: inst for inst in instances}


def make_sandbox_factory() -> Any:
    from producers.sandbox.local import LocalSandboxFactory

    return LocalSandboxFactory()
