"""RunConfig validation: every invalid config is refused with exit 2, one message naming
the field (and its line), and nothing written to the log."""
from __future__ import annotations

import os
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
    ("memory not a size", "run: {id: a}\nsandbox: {memory: lots}\n", "sandbox.memory"),
    ("memory zero", "run: {id: a}\nsandbox: {memory: 0g}\n", "sandbox.memory"),
    ("memory unit unknown", "run: {id: a}\nsandbox: {memory: 2x}\n", "sandbox.memory"),
    ("infinite command timeout", "run: {id: a}\nagent: {execution_timeout: .inf}\n", "agent.execution_timeout"),
    ("nan episode timeout", "run: {id: a}\nagent: {swe_agent_timeout: .nan}\n", "agent.swe_agent_timeout"),
    ("infinite startup timeout", "run: {id: a}\nsandbox: {startup_timeout: .inf}\n", "sandbox.startup_timeout"),
    ("infinite temperature", "run: {id: a}\nsampling: {temperature: .inf}\n", "sampling.temperature"),
    ("zero max_attempts", "run: {id: a}\nresume_policy: {max_attempts: 0}\n", "resume_policy.max_attempts"),
    ("docker without image", "run: {id: a}\nsandbox: {kind: docker}\n", "(config)"),
    ("openai without URL", "run: {id: a}\nmodel: {upstream: 'openai:localhost'}\n", "model.upstream"),
]

# Configs that are well-formed but name something this machine does not have; `{tmp}` is a
# scratch directory holding a plain file `afile`.
MACHINE = [
    ("dataset file missing", "run: {{id: a}}\ndataset: {{source: {tmp}/none.jsonl}}\n", "dataset.source"),
    ("dataset neither file nor hub name", "run: {{id: a}}\ndataset: {{source: 'no such thing'}}\n",
     "dataset.source"),
    ("log under a file", "run: {{id: a}}\nlog: sqlite:///{tmp}/afile/ledger.db\n", "log"),
    ("log is a directory", "run: {{id: a}}\nlog: sqlite:///{tmp}\n", "log"),
    ("log not writable", "run: {{id: a}}\nlog: sqlite:////proc/ledger-test/ledger.db\n", "log"),
    ("synchronous bogus", "run: {{id: a}}\nlog: 'sqlite:///{tmp}/l.db?synchronous=bogus'\n", "log"),
    ("busy timeout not a number", "run: {{id: a}}\nlog: 'sqlite:///{tmp}/l.db?busy_timeout_ms=soon'\n", "log"),
    ("unknown sqlite option", "run: {{id: a}}\nlog: 'sqlite:///{tmp}/l.db?journal=off'\n", "log"),
    ("kafka unreachable", "run: {{id: a}}\nlog: kafka://127.0.0.1:1\n", "log"),
    ("kafka option unknown", "run: {{id: a}}\nlog: 'kafka://127.0.0.1:1?bogus=1'\n", "log"),
    ("cache dir is a file", "run: {{id: a}}\ndataset: {{cache_dir: {tmp}/afile}}\n", "dataset.cache_dir"),
    ("cache dir not writable", "run: {{id: a}}\ndataset: {{cache_dir: /proc/ledger-cache}}\n", "dataset.cache_dir"),
    ("lake is a file", "run: {{id: a}}\nlake: {tmp}/afile\n", "lake"),
    ("artifacts under a file", "run: {{id: a}}\nartifacts: {tmp}/afile/art\n", "artifacts"),
    ("callable module missing", "run: {{id: a}}\nmodel: {{upstream: 'callable:no_such_module_x:f'}}\n",
     "model.upstream"),
    ("callable attribute missing", "run: {{id: a}}\nmodel: {{upstream: 'callable:json:no_such_attr'}}\n",
     "model.upstream"),
    ("callable without attribute", "run: {{id: a}}\nmodel: {{upstream: 'callable:json'}}\n", "model.upstream"),
    ("hf path missing", "run: {{id: a}}\nmodel: {{upstream: 'hf:{tmp}/no-model'}}\n", "model.upstream"),
    ("openai URL bad port", "run: {{id: a}}\nmodel: {{upstream: 'openai:http://127.0.0.1:99999/v1'}}\n",
     "model.upstream"),
    ("replay log missing", "run: {{id: a}}\nmodel: {{upstream: 'replay:sqlite:///{tmp}/none.db'}}\n",
     "model.upstream"),
]

# Files that are not a valid YAML mapping: (name, text, what the one line must say)
NOT_YAML = [
    ("repeated top-level key", "run: {id: a}\nlog: sqlite:///a.db\nlog: sqlite:///b.db\n",
     ":3: log: key given twice (lines 2 and 3)"),
    ("repeated nested key", "run:\n  id: a\nsampling:\n  n: 2\n  k: [1]\n  n: 3\n",
     ":6: sampling.n: key given twice (lines 4 and 6)"),
    ("repeated key in flow style", "run: {id: a, id: b}\n", ":1: run.id: key given twice (lines 1 and 1)"),
    ("unclosed bracket", "run:\n  id: a\n  mode: [eval\n", ": not valid YAML:"),
    ("bad indentation", "run:\n  id: a\n mode: eval\n", ": not valid YAML:"),
    ("tab indentation", "run:\n\tid: a\n", ": not valid YAML:"),
    ("not a mapping", "- run\n- log\n", "expected a mapping at the top level"),
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


def test_shipped_configs_pass_the_machine_checks() -> None:
    """Every config under configs/ that needs no broker loads here (packaged models included:
    demo-smol's `hf:smollm2-135m` is not a directory until its first load)."""
    root = Path(__file__).resolve().parents[2] / "configs"
    for name in ("demo.yaml", "demo-smol.yaml", "swebench-mini.yaml", "rl-swe.yaml"):
        if (root / name).exists():
            assert load_config(root / name).run.id, name


def test_the_invalid_config_set_has_at_least_40_configs() -> None:
    assert len(INVALID) + len(MACHINE) + len(NOT_YAML) >= 40


def _machine_case(tmp_path: Path, body: str) -> Path:
    (tmp_path / "afile").write_text("not a directory")
    path = tmp_path / "bad.yaml"
    path.write_text(body.format(tmp=tmp_path))
    return path


@pytest.mark.parametrize("name,body,field", MACHINE, ids=[c[0] for c in MACHINE])
def test_what_a_config_names_is_checked_on_this_machine(tmp_path: Path, name: str, body: str, field: str) -> None:
    path = _machine_case(tmp_path, body)
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}:2: {field}:"), msg
    assert "\n" not in msg
    assert sorted(tmp_path.rglob("*")) == before  # nothing created


@pytest.mark.parametrize("name,text,says", NOT_YAML, ids=[c[0] for c in NOT_YAML])
def test_bad_yaml_is_one_line_naming_where(tmp_path: Path, name: str, text: str, says: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}") and says in msg and "\n" not in msg, msg


def test_error_points_at_the_offending_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("run:\n  id: a\nsampling:\n  n: 2\n  temperature: hot\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:5: sampling.temperature:")


CLI_CASES = [INVALID[0], INVALID[8], INVALID[14], MACHINE[0], MACHINE[8], MACHINE[12], NOT_YAML[0], NOT_YAML[3]]
"""One of each kind through the real command (the rest are checked through load_config)."""


@pytest.mark.parametrize("case", CLI_CASES, ids=lambda c: c[0])
def test_cli_exits_2_and_writes_nothing(tmp_path: Path, case) -> None:
    work = tmp_path / "work"
    work.mkdir()
    db = work / "ledger.db"
    body = case[1].format(tmp=work) if case in MACHINE else case[1]
    (work / "afile").write_text("not a directory")
    path = tmp_path / "bad.yaml"
    path.write_text(body + (f"log: sqlite:///{db}\n" if "log:" not in body else ""))
    before = sorted(work.rglob("*"))
    proc = subprocess.run([sys.executable, "-m", "main", "run", str(path)], cwd=work,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.strip().splitlines() if line]
    assert len(lines) == 1 and case[2] in lines[0], proc.stderr
    assert not db.exists() and sorted(work.rglob("*")) == before


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
