"""Datasets: SWE-bench-schema instances from the hub, local files, or the bundled suite."""
from .bundled import BundledTask, demo_scripts, ensure_bundled, ensure_bundled_tasks
from .instance import Instance

__all__ = ["BundledTask", "Instance", "demo_scripts", "ensure_bundled", "ensure_bundled_tasks"]
