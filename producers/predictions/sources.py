"""Where `import-predictions --evaluate` gets its instances and sandboxes."""
from __future__ import annotations

from typing import Any

__all__ = ["load_instances", "make_sandbox_factory"]


def load_instances(source: str, split: str = "test") -> dict[str, Any]:
    """instance_id -> instance, from a dataset source (`producers.datasets`)."""
    from producers.datasets import load_dataset

    return {inst.instance_id: inst for inst in load_dataset(source, split=split).instances}


def make_sandbox_factory() -> Any:
    from producers.sandbox.local import LocalSandboxFactory

    return LocalSandboxFactory()
