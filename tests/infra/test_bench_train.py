"""`ledger bench train` runs at a small size and writes its JSON figures."""
from __future__ import annotations

import json

from main import main


def test_bench_train_writes_side_by_side_figures(tmp_path, capsys):
    out = tmp_path / "train.json"
    assert main(["bench", "train", "--groups", "2", "--samples", "2", "--prompt-len", "8", "--completion-len", "8",
                 "--epochs", "2", "--mini", "2", "--micro", "1", "--reps", "2", "--warmup", "1", "--threads", "1",
                 "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert figures["optimizer_updates_per_step"] == 4 and figures["micro_batches_per_step"] == 8
    assert figures["ledger_tokens_per_s"] > 0 and figures["verl_tokens_per_s"] > 0
    assert abs(figures["ratio"] - figures["ledger_tokens_per_s"] / figures["verl_tokens_per_s"]) < 0.01
    assert json.loads(capsys.readouterr().out) == figures
