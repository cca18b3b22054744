"""Loading instances: formats, manifests, malformed rows, the hub code path, locking."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from producers.datasets.loader import DatasetError, load_dataset

PATCH = ("diff --git a/pkg/core.py b/pkg/core.py\n--- a/pkg/core.py\n+++ b/pkg/core.py\n"
         "@@ -1 +1 @@\n-x = 1\n+x = 2\n")
TEST_PATCH = PATCH.replace("pkg/core.py", "tests/test_core.py")


def good_row(n: int, **overrides) -> dict:
    row = {"instance_id": f"owner__proj-{n}", "repo": "owner/proj", "base_commit": "a" * 40,
           "problem_statement": f"Issue {n}", "patch": PATCH, "test_patch": TEST_PATCH,
           "FAIL_TO_PASS": json.dumps(["tests/test_core.py::test_x"]),
           "PASS_TO_PASS": ["tests/test_core.py::test_y", "test_z (module.Case)"],
           "version": "1.0", "environment_setup_commit": "b" * 40, "extra_column": 1}
    row.update(overrides)
    return row


def _without(field: str) -> dict:
    row = good_row(0)
    del row[field]
    return row


def _escaping(path: str) -> str:
    return PATCH.replace("pkg/core.py", path)


# (row or raw JSONL line, field the error must name)
MALFORMED: list[tuple[object, str]] = [
    *[(_without(f), f) for f in ["instance_id", "repo", "base_commit", "problem_statement",
                                 "patch", "FAIL_TO_PASS"]],
    *[(good_row(0, FAIL_TO_PASS=[bad]), "FAIL_TO_PASS") for bad in
      ["", " padded", "two\nlines", "../outside.py::test", "/abs/test.py::test", "::test",
       "tests/test_core.py::", "~/t.py::test", 5, None]],
    *[(good_row(0, PASS_TO_PASS=[bad]), "PASS_TO_PASS") for bad in
      ["../../etc/passwd::x", "", ["nested"]]],
    (good_row(0, FAIL_TO_PASS="[not json"), "FAIL_TO_PASS"),
    (good_row(0, FAIL_TO_PASS='"a string, not a list"'), "FAIL_TO_PASS"),
    (good_row(0, FAIL_TO_PASS=[]), "FAIL_TO_PASS"),
    (good_row(0, FAIL_TO_PASS="[]"), "FAIL_TO_PASS"),
    (good_row(0, FAIL_TO_PASS={"a": 1}), "FAIL_TO_PASS"),
    *[(good_row(0, patch=_escaping(p)), "patch") for p in ["../x.py", "/etc/passwd", "a/../../x"]],
    (good_row(0, patch=PATCH + "diff --git a/ok.py b/ok.py\nrename from ok.py\nrename to ../up.py\n"),
     "patch"),
    (good_row(0, patch="just some text, not a diff"), "patch"),
    (good_row(0, patch=""), "patch"),
    (good_row(0, patch=None), "patch"),
    (good_row(0, patch="--- a/../x.py\n+++ b/../x.py\n@@ -1 +1 @@\n-a\n+b\n"), "patch"),
    (good_row(0, test_patch=_escaping("../tests/evil.py")), "test_patch"),
    *[(good_row(0, instance_id=bad), "instance_id") for bad in ["", "has space", "../up", 5]],
    *[(good_row(0, repo=bad), "repo") for bad in ["noslash", "a/b/c", "", None]],
    *[(good_row(0, base_commit=bad), "base_commit") for bad in ["xyz", "ABCDEF0", "12", 42]],
    (good_row(0, problem_statement="   "), "problem_statement"),
    (good_row(0, problem_statement=None), "problem_statement"),
    (good_row(0, version=["1"]), "version"),
    ([1, 2, 3], "<row>"),
    ("just a string", "<row>"),
    (17, "<row>"),
    ("RAW:{not json", "<json>"),
    ("RAW:{\"instance_id\": ", "<json>"),
]


def _write_jsonl(path: Path, entries: list[object]) -> None:
    lines = [e[4:] if isinstance(e, str) and e.startswith("RAW:") else json.dumps(e)
             for e in entries]
    path.write_text("\n".join(lines) + "\n")


def test_fifty_malformed_rows_name_row_and_field_and_the_rest_loads(tmp_path):
    assert len(MALFORMED) >= 50
    entries: list[object] = []
    expected: dict[int, str] = {}
    for n, (bad, field) in enumerate(MALFORMED):
        entries.append(good_row(1000 + n))
        if isinstance(bad, dict) and "instance_id" in bad and isinstance(bad["instance_id"], str) \
                and bad["instance_id"] == "owner__proj-0":
            bad = {**bad, "instance_id": f"bad__row-{n}"}
        expected[len(entries)] = field
        entries.append(bad)
    entries.append(good_row(1000))  # a duplicate id is an error too
    expected[len(entries) - 1] = "instance_id"
    path = tmp_path / "rows.jsonl"
    _write_jsonl(path, entries)

    loaded = load_dataset(path, cache_dir=tmp_path / "cache")

    assert len(loaded.instances) == len(MALFORMED)
    by_row: dict[int, set[str]] = {}
    for err in loaded.errors:
        by_row.setdefault(err.row, set()).add(err.field.split(".")[0])
        assert str(err).startswith(f"row {err.row} (") and err.message
    assert sorted(by_row) == sorted(expected)
    for row, field in expected.items():
        assert field in by_row[row], (row, field, by_row[row])
    named = [e for e in loaded.errors if e.row == expected_row_of(expected, "repo")]
    assert named and named[0].instance_id and named[0].instance_id.startswith("bad__row-")
    assert loaded.manifest.count == len(MALFORMED)


def expected_row_of(expected: dict[int, str], field: str) -> int:
    return next(row for row, f in expected.items() if f == field)


def test_json_jsonl_and_parquet_load_the_same_instances(tmp_path):
    rows = [good_row(n) for n in range(3)]
    (tmp_path / "d.json").write_text(json.dumps(rows))
    _write_jsonl(tmp_path / "d.jsonl", rows)
    table_rows = [{**r, "PASS_TO_PASS": json.dumps(r["PASS_TO_PASS"])} for r in rows]
    pq.write_table(pa.Table.from_pylist(table_rows), tmp_path / "d.parquet")
    loads = [load_dataset(tmp_path / f"d.{ext}", cache_dir=tmp_path) for ext in
             ["json", "jsonl", "parquet"]]
    assert all(not ld.errors for ld in loads)
    assert loads[0].instances == loads[1].instances == loads[2].instances
    shas = {ld.manifest.sha256 for ld in loads}
    assert len(shas) == 1
    assert loads[0].instances[0].FAIL_TO_PASS == ["tests/test_core.py::test_x"]
    assert loads[0].manifest.revision.startswith("sha256:")
    assert loads[0].manifest.revision != loads[1].manifest.revision  # pins the file bytes


def test_filter_limit_and_manifest(tmp_path):
    path = tmp_path / "d.json"
    path.write_text(json.dumps({"test": [good_row(n) for n in range(5)], "dev": []}))
    regex = load_dataset(path, instance_filter=r"owner__proj-[13]", cache_dir=tmp_path)
    assert [i.instance_id for i in regex.instances] == ["owner__proj-1", "owner__proj-3"]
    ids = load_dataset(path, instance_filter=["owner__proj-4"], cache_dir=tmp_path)
    assert ids.manifest.instance_ids == ["owner__proj-4"] and ids.manifest.count == 1
    limited = load_dataset(path, limit=2, cache_dir=tmp_path)
    assert limited.manifest.count == 2 and limited.manifest.sha256 != regex.manifest.sha256
    assert load_dataset(path, split="dev", cache_dir=tmp_path).manifest.count == 0


def test_relative_repo_path_resolves_against_the_file(tmp_path):
    (tmp_path / "repos" / "proj").mkdir(parents=True)
    (tmp_path / "d.json").write_text(json.dumps([good_row(0, repo_path="repos/proj")]))
    inst = load_dataset(tmp_path / "d.json", cache_dir=tmp_path).instances[0]
    assert inst.repo_path == str(tmp_path / "repos" / "proj")


def test_bundled_source(tmp_path):
    loaded = load_dataset("bundled", cache_dir=tmp_path)
    assert loaded.manifest.source == "bundled" and loaded.manifest.count >= 12
    assert loaded.manifest.revision.startswith("bundled-") and not loaded.errors
    again = load_dataset("bundled", cache_dir=tmp_path / "other")
    assert again.manifest.sha256 == loaded.manifest.sha256
    assert all(Path(i.repo_path).is_dir() for i in loaded.instances)


def test_unreadable_sources_are_dataset_errors(tmp_path):
    (tmp_path / "bad.json").write_text("{nope")
    (tmp_path / "d.csv").write_text("a,b\n")
    for source in ["no-such-thing", str(tmp_path / "bad.json"), str(tmp_path / "d.csv")]:
        with pytest.raises(DatasetError):
            load_dataset(source, cache_dir=tmp_path)
    with pytest.raises(DatasetError, match="split"):
        load_dataset(_hub_dir(tmp_path / "hubdir"), split="nosuchsplit", cache_dir=tmp_path)


def _hub_dir(path: Path, n: int = 3) -> str:
    """A local dataset directory laid out as on the hub (`datasets` reads it the same way)."""
    (path / "data").mkdir(parents=True)
    _write_jsonl(path / "data" / "test.jsonl", [good_row(k) for k in range(n)])
    return str(path)


def test_hub_code_path_caches_a_pinned_revision(tmp_path):
    source = _hub_dir(tmp_path / "hub-like")
    first = load_dataset(source, revision="v1", cache_dir=tmp_path / "cache")
    assert first.manifest.count == 3 and first.manifest.revision == "v1" and not first.errors
    shutil.rmtree(source)
    Path(source, "data").mkdir(parents=True)  # the source changed; v1 is served from cache
    _write_jsonl(Path(source, "data", "test.jsonl"), [good_row(9)])
    cached = load_dataset(source, revision="v1", cache_dir=tmp_path / "cache")
    assert cached.manifest.sha256 == first.manifest.sha256
    fresh = load_dataset(source, revision="v2", cache_dir=tmp_path / "cache")
    assert fresh.manifest.instance_ids == ["owner__proj-9"]
    unpinned = load_dataset(source, cache_dir=tmp_path / "cache")
    assert unpinned.manifest.revision.startswith("unpinned:")


def test_concurrent_hub_preparations_agree(tmp_path):
    source = _hub_dir(tmp_path / "hub-like", n=5)
    code = ("import sys; from producers.datasets.loader import load_dataset; "
            "print(load_dataset(sys.argv[1], revision='r1', cache_dir=sys.argv[2]).manifest"
            ".model_dump_json())")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    procs = [subprocess.Popen([sys.executable, "-c", code, source, str(tmp_path / "cache")],
                              env=env, stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [json.loads(p.communicate(timeout=300)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert outs[0] == outs[1] == outs[2] and outs[0]["count"] == 5
    entries = list((tmp_path / "cache" / "hub").glob("*@r1/test.jsonl"))
    assert len(entries) == 1 and len(entries[0].read_text().splitlines()) == 5


def test_unreachable_hub_is_a_dataset_error_naming_the_source(tmp_path):
    code = ("import sys; from producers.datasets.loader import DatasetError, load_dataset\n"
            "try:\n    load_dataset('princeton-nlp/SWE-bench_Lite', cache_dir=sys.argv[1])\n"
            "except DatasetError as exc:\n    print('DatasetError', exc)")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("DatasetError") and "princeton-nlp/SWE-bench_Lite" in proc.stdout
