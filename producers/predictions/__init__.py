"""SWE-bench predictions and reports in and out of the ledger.

One JSON object per line: {"instance_id", "model_name_or_path", "model_patch"}.
Export reads a run's `episode.finished` events; import writes episodes (agent
`import`, reason `submitted`) so patches made elsewhere are evaluated and
scored like any other. `report.py` writes a run's results in the official
harness's report shapes; `official.py` imports that harness's reports as
`eval.result` events (`harness: swebench-official`).
"""
from .export import export_predictions
from .format import Prediction, PredictionsError, read_predictions, write_predictions
from .importer import ImportedEpisode, import_predictions
from .official import OfficialReportError, OfficialResult, import_official, read_official
from .report import instance_report, latest_results, run_report, write_instance_reports

__all__ = ["ImportedEpisode", "OfficialReportError", "OfficialResult", "Prediction", "PredictionsError",
           "export_predictions", "import_official", "import_predictions", "instance_report", "latest_results",
           "read_official", "read_predictions", "run_report", "write_instance_reports", "write_predictions"]
