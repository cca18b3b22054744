"""SWE-bench 5 rows through the hub code path: a local dataset folder laid out as on the hub."""
from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq

from producers.datasets import load_dataset
from producers.harness import knows
from producers.harness.swebench_spec import test_spec as spec_of


def test_a_hub_folder_of_swebench_rows_loads_with_the_harness_columns(swebench_mini, tmp_path):
    rows = swebench_mini.rows()
    folder = tmp_path / "SWE-bench_Mini"
    (folder / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), folder / "data" / "test-00000-of-00001.parquet")
    loaded = load_dataset(str(folder), split="test", revision="v5", cache_dir=tmp_path / "cache",
                          repos=str(swebench_mini.mirrors))
    assert not loaded.errors and loaded.manifest.count == len(rows) == 16
    assert loaded.manifest.revision == "v5" and list((tmp_path / "cache" / "hub").glob("*@v5/test.jsonl"))
    by_id = {i.instance_id: i for i in loaded.instances}
    django = by_id["swe-mini__minidjango-1"]
    assert knows(django) and django.log_parser == "parse_log_django" and django.repos == str(swebench_mini.mirrors)
    assert django.FAIL_TO_PASS == json.loads(rows[0]["FAIL_TO_PASS"])
    spec = spec_of(django)  # the harness's own make_test_spec accepts what we loaded
    assert spec.image == "sweb.eval.x86_64.swe-mini_1776_minidjango-1:latest".replace("_1776_", "__")
    assert any("./tests/runtests.py --verbosity 2" in line for line in spec.eval_script_list)
    # the harness's columns are content: a different eval script is a different dataset
    (tmp_path / "same.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert load_dataset(tmp_path / "same.jsonl").manifest.sha256 == loaded.manifest.sha256
    other = [{**r, "eval_script": r["eval_script"] + "# changed\n"} for r in rows]
    (tmp_path / "changed.jsonl").write_text("".join(json.dumps(r) + "\n" for r in other))
    assert load_dataset(tmp_path / "changed.jsonl").manifest.sha256 != loaded.manifest.sha256
