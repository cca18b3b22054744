"""Datasets: SWE-bench-schema instances from the hub, local files, the bundled suite or the
mini SWE-bench."""
from .bundled import BundledTask, ensure_bundled, ensure_bundled_tasks
from .instance import Instance
from .loader import DatasetError, LoadedDataset, RowError, load_dataset, manifest_of

__all__ = ["BundledTask", "DatasetError", "Instance", "LoadedDataset", "RowError", "demo_scripts",
           "ensure_bundled", "ensure_bundled_tasks", "load_dataset", "manifest_of"]


def demo_scripts() -> dict:
    """The scripted demo policy's scripts for every built-in dataset: the bundled suite and
    the mini SWE-bench (`producers.inference.demo` reads them from here)."""
    from .bundled import demo_scripts as bundled
    from .swebench_mini import demo_scripts as mini

    return {**bundled(), **mini()}
