"""A full disk: every command says so in one line (exit 1, no traceback), nothing
half-written is kept, and readers still read.

Two ways to fill it: SQLite's own `max_page_count` (the file may not grow: SQLITE_FULL,
always available), and a real 1-4 MiB tmpfs mounted in a private mount namespace
(`unshare -m`, as root), filled with a plain file.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from events.log import LogFull, open_log
from tests.conftest import REPO_ROOT
from tests.events.samples import actions


def test_a_file_that_may_not_grow_fails_the_batch_whole_and_says_so(tmp_path):
    log = open_log(f"sqlite:///{tmp_path}/ledger.db")
    first = actions(10)
    log.append("actions", first)
    pages = log._conn.execute("PRAGMA page_count").fetchone()[0]
    log._conn.execute(f"PRAGMA max_page_count = {pages}")  # this connection may not grow the file
    with pytest.raises(LogFull) as info:
        log.append("actions", actions(3000, start=10))
    message = str(info.value)
    assert message.startswith(f"the log at {tmp_path}/ledger.db cannot grow: the disk is full")
    assert "\n" not in message
    consumer = log.consumer("g", ["actions"])
    consumer.poll(max_records=100, timeout_s=0.1)
    with pytest.raises(LogFull):  # a group commit with outputs: the same, offsets not moved
        consumer.transact({"actions": actions(3000, start=5000)})
    assert consumer.committed() == {("actions", p): 0 for p in range(4)}
    log._conn.execute("PRAGMA max_page_count = 1073741823")
    log.append("actions", actions(2, start=9000))  # the connection is usable again
    assert sum(log.end_offsets("actions").values()) == 12
    log.close()


def _can_mount_tmpfs(tmp_path: Path) -> bool:
    if not shutil.which("unshare"):
        return False
    probe = tmp_path / "probe"
    probe.mkdir()
    done = subprocess.run(["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs {probe}"],
                          capture_output=True, timeout=30)
    return done.returncode == 0


def _small_log(path: Path) -> None:
    log = open_log(f"sqlite:///{path}")
    log.append("actions", actions(40))
    log.close()


SCRIPT = """\
set -u
mount -t tmpfs -o size={size} tmpfs {mnt}
{prepare}
dd if=/dev/zero of={mnt}/filler bs=4k 2>/dev/null || true
run() {{ name=$1; shift; "$@" > {out}/$name.out 2> {out}/$name.err < {stdin}; echo $? > {out}/$name.rc; }}
L="{python} {main}"
run events $L events --log sqlite:///{mnt}/ledger.db --topic actions
run scores $L scores --log sqlite:///{mnt}/ledger.db
run check $L check {mnt}/ledger.db
run append $L events --log sqlite:///{mnt}/ledger.db --topic actions --append
run process $L process --log sqlite:///{mnt}/ledger.db
run rescore $L rescore r1 --log sqlite:///{mnt}/ledger.db --scorer 1
"""


def _in_full_tmpfs(tmp_path: Path, script: str, env: dict) -> subprocess.CompletedProcess:
    path = tmp_path / "inside.sh"
    path.write_text(script)
    return subprocess.run(["unshare", "-m", "bash", str(path)], env=env, capture_output=True, text=True,
                          timeout=600)


def _results(out: Path, name: str) -> tuple[int, str, str]:
    return int((out / f"{name}.rc").read_text()), (out / f"{name}.out").read_text(), (out / f"{name}.err").read_text()


def test_a_full_disk_stops_writers_in_one_line_and_readers_still_read(tmp_path, subprocess_env):
    if not _can_mount_tmpfs(tmp_path):
        pytest.skip("making a small full filesystem needs a mount namespace (unshare -m, as root)")
    src, mnt, out = tmp_path / "src.db", tmp_path / "mnt", tmp_path / "out"
    mnt.mkdir()
    out.mkdir()
    _small_log(src)
    stdin = tmp_path / "lines.jsonl"
    stdin.write_text("".join(ev.model_dump_json() + "\n" for ev in actions(2000, start=100)))
    done = _in_full_tmpfs(tmp_path, SCRIPT.format(size="2m", mnt=mnt, out=out, stdin=stdin,
                                                  prepare=f"cp {src} {mnt}/ledger.db", python=sys.executable,
                                                  main=REPO_ROOT / "main.py"), subprocess_env)
    assert done.returncode == 0, done.stderr
    rc, printed, err = _results(out, "events")
    assert rc == 0 and len(printed.splitlines()) == 40, err
    assert _results(out, "scores")[0] == 0
    rc, printed, err = _results(out, "check")
    assert rc == 0 and "ok: the log is whole" in printed, printed + err
    for name in ("append", "process", "rescore"):
        rc, _, err = _results(out, name)
        lines = err.strip().splitlines()
        assert rc == 1 and len(lines) == 1 and "cannot grow: the disk is full" in lines[0], (name, err)
        assert "Traceback" not in err


def test_ledger_run_on_a_disk_that_fills_up_stops_in_one_line(tmp_path, subprocess_env):
    if not _can_mount_tmpfs(tmp_path):
        pytest.skip("making a small full filesystem needs a mount namespace (unshare -m, as root)")
    mnt, cache = tmp_path / "mnt", tmp_path / "cache"
    mnt.mkdir()
    cfg = yaml.safe_load((REPO_ROOT / "configs" / "demo.yaml").read_text())
    cfg["dataset"].update(limit=2, cache_dir=str(cache))
    cfg["sampling"].update(n=2, k=[1, 2])
    cfg.update(log=f"sqlite:///{mnt}/ledger.db", lake=str(mnt / "lake"), artifacts=str(mnt / "artifacts"))
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(cfg))
    script = textwrap.dedent(f"""\
        set -u
        mount -t tmpfs -o size=512k tmpfs {mnt}
        {sys.executable} {REPO_ROOT / 'main.py'} run {config} > {tmp_path}/run.out 2> {tmp_path}/run.err
        echo $? > {tmp_path}/run.rc
        {sys.executable} {REPO_ROOT / 'main.py'} check {mnt}/ledger.db > {tmp_path}/check.out 2>&1
        echo $? > {tmp_path}/check.rc
        """)
    done = _in_full_tmpfs(tmp_path, script, {**subprocess_env, "TMPDIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    err = (tmp_path / "run.err").read_text()
    assert (tmp_path / "run.rc").read_text().strip() == "1", err
    assert "Traceback" not in err and "cannot rollback" not in err
    problems = [line for line in err.splitlines() if line.startswith("ledger")]
    assert len(problems) == 1 and "cannot grow: the disk is full" in problems[0], err
    assert (tmp_path / "check.rc").read_text().strip() == "0", (tmp_path / "check.out").read_text()
