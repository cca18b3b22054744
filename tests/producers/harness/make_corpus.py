"""Regenerate the parity corpus: `python -m tests.producers.harness.make_corpus [OUT]`.

For every row of the mini SWE-bench (8 repositories, 7 log parsers of the official
harness) the row's eval script runs in a local sandbox, as the evaluator runs it,
at the base commit and with the gold, wrong, regression and (where there is one)
partial patch; each run's output is written to `corpus/logs/<instance_id>/<case>.log`
and the rows to `corpus/rows.jsonl`. These are real runs of the real test commands
(./tests/runtests.py, bin/test, pytest with each repo's flags) on those repositories.
"""
from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

CORPUS = Path(__file__).with_name("corpus")
CASES = ("base", "gold", "partial", "wrong", "regression")


def generate(out: Path = CORPUS) -> int:
    from producers.datasets import load_dataset
    from producers.datasets.swebench_mini import ensure_swebench_mini
    from producers.harness.swebench import SwebenchHarness
    from producers.harness.swebench_spec import test_spec
    from producers.harness.trace import Trace
    from producers.sandbox.local import LocalSandboxFactory

    scratch = Path(tempfile.mkdtemp(prefix="ledger-corpus-"))
    try:
        suite = ensure_swebench_mini(scratch / "cache")
        instances = load_dataset(suite.rows_path, repos=str(suite.mirrors)).instances
        cases = suite.cases()
        harness = SwebenchHarness(timeout_s=300, apply_timeout_s=60)
        factory = LocalSandboxFactory(root=scratch / "sbx")
        shutil.rmtree(out / "logs", ignore_errors=True)
        written = 0
        for inst in instances:
            spec = test_spec(inst)
            for case in CASES:
                patch = "" if case == "base" else cases[inst.instance_id].get(case)
                if patch is None:
                    continue
                from producers.agents.workspace import open_sandbox

                with open_sandbox(factory, inst) as sandbox:
                    log, stopped = harness.run(sandbox, spec, patch, Trace())
                if stopped is not None:
                    raise RuntimeError(f"{inst.instance_id} {case}: {stopped.reason}")
                path = out / "logs" / inst.instance_id / f"{case}.log"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(log)
                written += 1
        (out / "rows.jsonl").write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in suite.rows()))
        return written
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    n = generate(Path(sys.argv[1]) if len(sys.argv) > 1 else CORPUS)
    print(f"wrote {n} logs", file=sys.stderr)
