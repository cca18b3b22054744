"""RunConfig validation: every invalid config is refused with exit 2, one message naming
the field (and its line), and nothing written to the log."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from producers.orchestrator.config import ConfigError, expand_param_search, load_config

ROOT = Path(__file__).resolve().parents[2]

VALID = """\
run:
  id: ok-run
dataset:
  source: bundled
  limit: 2
sampling:
  n: 4
  k: [1, 2, 4]
log: sqlite:///{db}
"""

# (name, yaml body, field the message must name)
INVALID = [
    ("unknown top key", "run: {id: a}\nbogus: 1\n", "bogus"),
    ("unknown nested key", "run: {id: a}\nagent: {runner: bash, max_stepz: 3}\n", "agent.max_stepz"),
    ("missing run id", "run: {mode: eval}\n", "run.id"),
    ("missing run section", "model: {name: x}\n", "run"),
    ("bad run id chars", "run: {id: 'a b/c'}\n", "run.id"),
    ("bad mode", "run: {id: a, mode: train}\n", "run.mode"),
    ("wrong type n", "run: {id: a}\nsampling: {n: many}\n", "sampling.n"),
    ("wrong type k", "run: {id: a}\nsampling: {n: 2, k: one}\n", "sampling.k"),
    ("k larger than n", "run: {id: a}\nsampling: {n: 2, k: [1, 4]}\n", "sampling"),
    ("zero k", "run: {id: a}\nsampling: {n: 2, k: [0]}\n", "sampling.k"),
    ("negative limit", "run: {id: a}\ndataset: {limit: -3}\n", "dataset.limit"),
    ("negative max_steps", "run: {id: a}\nagent: {max_steps: -1}\n", "agent.max_steps"),
    ("negative timeout", "run: {id: a}\nagent: {execution_timeout: -5}\n", "agent.execution_timeout"),
    ("zero workers", "run: {id: a}\nbatch: {workers: 0}\n", "batch.workers"),
    ("bad log url", "run: {id: a}\nlog: postgres://x/y\n", "log"),
    ("bad kafka url", "run: {id: a}\nlog: 'kafka://:x'\n", "log"),
    ("bad upstream", "run: {id: a}\nmodel: {upstream: 'gpt:foo'}\n", "model.upstream"),
    ("bad resume policy", "run: {id: a}\nresume_policy: sometimes\n", "resume_policy.on_unfinished"),
    ("bad filter regex", "run: {id: a}\ndataset: {instance_filter: '([a-'}\n", "dataset.instance_filter"),
    ("top_p out of range", "run: {id: a}\nsampling: {top_p: 1.5}\n", "sampling.top_p"),
    ("param_search without grid", "run: {id: a, mode: param_search}\n", "(config)"),
    ("unknown runner", "run: {id: a}\nagent: {runner: devin}\n", "agent.runner"),
]


def test_valid_config_loads(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(VALID.format(db=tmp_path / "l.db"))
    cfg = load_config(path)
    assert cfg.run.id == "ok-run" and cfg.sampling.k == [1, 2, 4] and cfg.dataset.limit == 2


@pytest.mark.parametrize("name,body,field", INVALID, ids=[c[0] for c in INVALID])
def test_invalid_config_names_field_and_line(tmp_path: Path, name: str, body: str, field: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    msg = str(info.value)
    assert f": {field}:" in msg, msg
    assert msg.startswith(f"{path}:"), msg


def test_error_points_at_the_offending_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("run:\n  id: a\nsampling:\n  n: 2\n  temperature: hot\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:5: sampling.temperature:")


@pytest.mark.parametrize("case", [INVALID[0], INVALID[8], INVALID[14], INVALID[2]], ids=lambda c: c[0])
def test_cli_exits_2_and_writes_nothing(tmp_path: Path, case) -> None:
    db = tmp_path / "ledger.db"
    path = tmp_path / "bad.yaml"
    path.write_text(case[1] + (f"log: sqlite:///{db}\n" if "log:" not in case[1] else ""))
    proc = subprocess.run([sys.executable, "-m", "main", "run", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.strip().splitlines() if line]
    assert len(lines) == 1 and case[2] in lines[0], proc.stderr
    assert not db.exists()


def test_param_search_expands_grid(tmp_path: Path) -> None:
    path = tmp_path / "ps.yaml"
    path.write_text(textwrap.dedent("""\
        run: {id: sweep, mode: param_search}
        sampling: {n: 2, k: [1, 2]}
        param_search:
          grid: {temperature: [0.2, 0.8], top_p: [0.9, 1.0]}
        """))
    subs = expand_param_search(load_config(path))
    assert [s.run.id for s in subs] == [
        "sweep.temperature=0.2.top_p=0.9", "sweep.temperature=0.2.top_p=1.0",
        "sweep.temperature=0.8.top_p=0.9", "sweep.temperature=0.8.top_p=1.0"]
    assert {(s.sampling.temperature, s.sampling.top_p) for s in subs} == {(0.2, 0.9), (0.2, 1.0), (0.8, 0.9), (0.8, 1.0)}
    assert all(s.run.mode == "eval" for s in subs)
    # a sub-run's config is validated again in its episode workers: its id must pass too
    assert [type(s).model_validate(s.model_dump()).run.id for s in subs] == [s.run.id for s in subs]
