"""`ledger bench log` runs end to end at a tiny size and writes its JSON (no timing asserted)."""
from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO_ROOT

KEYS = {"append_eps", "raw_append_eps", "replay_eps", "raw_replay_eps", "raw_fetch_eps",
        "append_ratio", "replay_ratio"}


def test_log_bench_smoke(tmp_path, kafka_bootstrap, subprocess_env):
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, "main.py", "bench", "log", "--n", "2000", "--rounds", "1",
                           "--kafka", f"kafka://{kafka_bootstrap}", "--json", str(out)],
                          cwd=REPO_ROOT, env=subprocess_env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    figures = json.loads(out.read_text())
    assert figures["n"] == 2000 and 300 <= figures["event_bytes"] <= 500
    for backend in ("sqlite", "kafka"):
        assert KEYS <= set(figures[backend])
        assert all(v > 0 for v in figures[backend].values())
    assert {"raw_encode_append_eps", "raw_multirow_append_eps", "append_multirow_ratio"} <= set(figures["sqlite"])
