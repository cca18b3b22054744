"""configs/real.yaml on the small synthesized set: `ledger run` through the normal path
(mirrors as `dataset.repos`, the dataset's environment table, the bash agent, the scripted
demo policy playing `demo_scripts.json`), and every verdict is the one the script implies:
the gold patch resolves, the wrong edit does not."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from events.log import open_log
from events.payloads import EvalResult
from tests.conftest import REPO_ROOT

from .conftest import synth_env

pytestmark = pytest.mark.timeout(1800)  # a real synthesis: minutes on a loaded machine

LIMIT = 4


def test_ledger_run_verdicts_match_the_scripted_split(small_run, tmp_path):
    config = yaml.safe_load((REPO_ROOT / "configs" / "real.yaml").read_text())
    out = small_run.out
    config["model"]["upstream"] = f"demo:{out / 'demo_scripts.json'}"
    config["dataset"].update(source=str(out / "dataset.jsonl"), repos=str(out / "mirrors"),
                             environments=str(out / "environments.yaml"), limit=LIMIT,
                             cache_dir=str(small_run.cache))
    config.update(log=f"sqlite:///{tmp_path}/ledger.db", lake=str(tmp_path / "lake"),
                  artifacts=str(tmp_path / "artifacts"))
    path = tmp_path / "real.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.run([sys.executable, "-m", "main", "run", str(path)], cwd=REPO_ROOT, env=synth_env(),
                          capture_output=True, text=True, timeout=1700)
    assert proc.returncode == 0, proc.stderr[-3000:]
    scripts = json.loads((out / "demo_scripts.json").read_text())
    log = open_log(config["log"])
    try:
        results = [r.event.payload for r in log.read("evals") if isinstance(r.event.payload, EvalResult)]
    finally:
        log.close()
    assert len(results) == LIMIT
    verdicts = {r.instance_id: r.resolved for r in results}
    expected = {iid: scripts[iid]["solve_rate"] == 1.0 for iid in verdicts}
    assert verdicts == expected, [r.reason for r in results if verdicts[r.instance_id] != expected[r.instance_id]]
    assert 0 < sum(expected.values()) < LIMIT
    assert {r.harness for r in results} == {"pytest"} and all(r.status == "ok" for r in results)
    assert all(r.spec_digest for r in results)
