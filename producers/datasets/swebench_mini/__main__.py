"""`python -m producers.datasets.swebench_mini derive`: re-derive tests.json with the harness.

Builds the suite from scratch, deriving every row's FAIL_TO_PASS / PASS_TO_PASS
by running its eval script at base and with the gold patch (see build.py), and
writes them to tests.json beside the suite's definitions.
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from .build import TESTS_FILE, generate


def main(argv: list[str]) -> int:
    if argv != ["derive"]:
        print(__doc__, file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "suite"
        generate(root, derive_all=True)
        tests = {}
        for line in (root / "rows.jsonl").read_text().splitlines():
            row = json.loads(line)
            tests[row["instance_id"]] = {k: json.loads(row[k]) for k in ("FAIL_TO_PASS", "PASS_TO_PASS")}
    TESTS_FILE.write_text(json.dumps(tests, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(tests)} rows' tests to {TESTS_FILE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
