"""The harnesses that judge a patch: the official SWE-bench one and ours.

- `SwebenchHarness` (`harness: swebench`): rows that carry the official harness's
  eval script and log parser; its spec, parser and resolution rule decide.
- `PytestHarness` (`harness: pytest`): everything else (bundled, synthesized,
  local tasks), pytest with JUnit XML, the same resolution rule.
- Imported reports of the official harness run elsewhere say `swebench-official`
  (`producers.predictions.official`).
"""
from .apply import WORK_DIR
from .pytest_junit import DEFAULT_TEST_COMMAND, PytestHarness, test_files
from .swebench import Grade, SwebenchHarness, grade_log, test_status
from .swebench_spec import knows, missing_reason, wants
from .trace import Trace
from .verdict import MAINTAINED, Verdict, resolution

__all__ = ["DEFAULT_TEST_COMMAND", "MAINTAINED", "WORK_DIR", "Grade", "PytestHarness", "SwebenchHarness",
           "Trace", "Verdict", "grade_log", "knows", "missing_reason", "resolution", "test_files",
           "test_status", "wants"]
