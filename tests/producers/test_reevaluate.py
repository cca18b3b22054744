"""`ledger reevaluate RUN_ID`: stored patches judged again into a side-by-side run."""
from __future__ import annotations

import json
import subprocess
import sys

import events
from events.log import open_log
from events.payloads import EpisodeFinished, RunStarted
from producers.datasets import load_dataset
from producers.datasets.bundled import ensure_bundled_tasks
from tests.conftest import REPO_ROOT


def test_reevaluate_judges_stored_patches_into_a_new_run(tmp_path, subprocess_env):
    cache = tmp_path / "cache"
    ensure_bundled_tasks(cache)
    loaded = load_dataset("bundled", cache_dir=cache, limit=1)
    inst = loaded.instances[0]
    url = f"sqlite:///{tmp_path}/l.db"
    log = open_log(url)
    log.append("runs", [events.new(RunStarted(config={"run": {"id": "r1"}}, manifest=loaded.manifest, planned=2),
                                   producer="test", run_id="r1")])
    log.append("episodes", [events.new(EpisodeFinished(episode_id=f"e{i}", instance_id=inst.instance_id,
                                                       sample_idx=i, patch=patch, reason="submitted"),
                                       producer="test", run_id="r1")
                            for i, patch in enumerate([inst.patch, ""])])
    res = subprocess.run([sys.executable, str(REPO_ROOT / "main.py"), "reevaluate", "r1", "--log", url,
                          "--as-run", "r1.again", "--timeout", "300", "--cache-dir", str(cache)],
                         cwd=REPO_ROOT, env=subprocess_env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == {"run_id": "r1.again", "parent_run": "r1", "evaluated": 2, "resolved": 1}
    evals = {r.event.payload.episode_id: r.event for r in log.read("evals")}
    assert evals["e0"].payload.resolved and evals["e0"].run_id == "r1.again"
    assert evals["e1"].payload.status == "empty_patch"
    started = [r.event for r in log.read("runs") if r.event.run_id == "r1.again"][0]
    assert started.payload.parent_run == "r1" and started.payload.mode == "reevaluate"
    missing = subprocess.run([sys.executable, str(REPO_ROOT / "main.py"), "reevaluate", "nope", "--log", url],
                             cwd=REPO_ROOT, env=subprocess_env, capture_output=True, text=True, timeout=300)
    assert missing.returncode == 2 and "no run.started for run 'nope'" in missing.stderr
