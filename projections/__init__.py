"""Read models rebuilt from the log (DESIGN.md §1).

- `projector`: the log -> the Parquet lake (`ledger project`), exactly once via `lake`'s manifest
- `compact`: merge a partition's small files (`ledger compact`)
- `scores`: the score index and `load(lake) -> polars.LazyFrame` (`ledger scores`)
- `memory`: workflow memory per scope, the agent's prompt block and memory.json
- `status`: autonomous-task status.json and dashboard.md
- `dashboard`: the read-only web page and JSON API (`ledger serve`)
"""
__all__: list[str] = []
