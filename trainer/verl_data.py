"""A run config's dataset as verl RL data: one parquet row per instance for `swe_agent`.

    python -m trainer.verl_data configs/verl-swe.yaml --out data/swe-train.parquet

Each row is what verl's `RLHFDataset` reads and hands to the agent loop:
`prompt` (the problem statement as one user message: verl tokenises it to filter
over-long prompts; the agent builds its own conversation), `agent_name`
(`swe_agent`), `data_source`, `reward_model` (the reward comes from the agent
loop, judged by the ledger's evaluator) and `extra_info` (`instance_id`, which
`SWEAgentLoop` plays, and `index`).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["main", "rows_for", "write_dataset"]


def rows_for(instances: list[Any], source: str, agent_name: str = "swe_agent") -> list[dict[str, Any]]:
    return [{"data_source": f"swe-ledger/{source}", "agent_name": agent_name,
             "prompt": [{"role": "user", "content": inst.problem_statement}],
             "reward_model": {"style": "rule", "ground_truth": ""},
             "extra_info": {"instance_id": inst.instance_id, "index": i, "repo": getattr(inst, "repo", "")}}
            for i, inst in enumerate(instances)]


def write_dataset(config_path: str, out: str | Path, agent_name: str = "swe_agent") -> int:
    """Write the config's instances to `out` (parquet); returns the row count."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from producers.orchestrator.components import load_instances
    from producers.orchestrator.config import load_config

    cfg = load_config(config_path)
    dataset = load_instances(cfg)
    if dataset.errors:
        raise ValueError(f"{len(dataset.errors)} rows of {cfg.dataset.source} do not load; first: {dataset.errors[0]}")
    if not dataset.instances:
        raise ValueError(f"{cfg.dataset.source} has no instances (filter {cfg.dataset.instance_filter!r})")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    pq.write_table(pa.Table.from_pylist(rows_for(dataset.instances, cfg.dataset.source, agent_name)), tmp)
    tmp.replace(out)
    return len(dataset.instances)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m trainer.verl_data", description=__doc__.split("\n")[0])
    p.add_argument("config", help="run config whose dataset section names the instances")
    p.add_argument("--out", required=True, help="parquet file to write (verl data.train_files)")
    p.add_argument("--agent-name", default="swe_agent", help="agent loop name in each row")
    args = p.parse_args(argv)
    try:
        n = write_dataset(args.config, args.out, args.agent_name)
    except (ValueError, OSError) as exc:
        print(f"trainer.verl_data: {exc}", file=sys.stderr)
        return 1
    print(f"{n} instances -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
