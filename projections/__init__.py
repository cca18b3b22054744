"""Read models rebuilt from the log (DESIGN.md §1).

- `projector`: the log -> the Parquet lake (`ledger project`), exactly once via `lake`'s manifest
- `lake`: the layout, the manifest (one entry per log followed), `table(lake, type)`
- `schema`, `shapes`, `typed`: the one event schema of every file and how payloads get typed
- `migrate`: older files into the current schema; `schema_doc`: docs/lake-schema.md
- `compact`: merge a partition's small files (`ledger compact`)
- `scores`: the score index and `load(lake) -> polars.LazyFrame` (`ledger scores`)
- `memory`: workflow memory per scope, the agent's prompt block and memory.json
- `status`: autonomous-task status.json and dashboard.md
- `dashboard`: the read-only web pages and JSON API (`ledger serve`)
"""
__all__: list[str] = []
