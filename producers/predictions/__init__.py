"""SWE-bench predictions in and out of the ledger.

One JSON object per line: {"instance_id", "model_name_or_path", "model_patch"}.
Export reads a run's `episode.finished` events; import writes episodes (agent
`import`, reason `submitted`) so patches made elsewhere are evaluated and
scored like any other.
"""
from .export import export_predictions
from .format import Prediction, PredictionsError, read_predictions, write_predictions
from .importer import ImportedEpisode, import_predictions

__all__ = ["ImportedEpisode", "Prediction", "PredictionsError", "export_predictions",
           "import_predictions", "read_predictions", "write_predictions"]
