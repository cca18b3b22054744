"""`ledger bench train-memory` at a small size: the chunked path's step peaks far below the
full-logits path's on the same sequence, with the same loss."""
from __future__ import annotations

import json

from main import main


def test_chunked_logprobs_peak_below_the_full_logits_path(tmp_path, capsys):
    out = tmp_path / "mem.json"
    assert main(["bench", "train-memory", "--tokens", "512", "--paths", "old,chunked", "--vocab", "32768",
                 "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert json.loads(capsys.readouterr().out) == figures
    old, chunked = figures["rows"]
    assert (old["path"], chunked["path"]) == ("old", "chunked") and old["tokens"] == chunked["tokens"] == 512
    assert abs(old["loss"] - chunked["loss"]) < 1e-4  # the same step
    assert old["peak_mib"] > 32  # at least the (512, 32k) fp32 logits and their gradient
    assert figures["peak_ratio"]["chunked_vs_old_at_512"] < 0.5
