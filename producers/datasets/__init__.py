"""Datasets: SWE-bench-schema instances from the hub, local files, or the bundled suite."""
from .bundled import BundledTask, demo_scripts, ensure_bundled, ensure_bundled_tasks
from .instance import Instance
from .loader import DatasetError, LoadedDataset, RowError, load_dataset, manifest_of

__all__ = ["BundledTask", "DatasetError", "Instance", "LoadedDataset", "RowError", "demo_scripts",
           "ensure_bundled", "ensure_bundled_tasks", "load_dataset", "manifest_of"]
