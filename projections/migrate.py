"""Schema evolution of the event lake: every file keeps the current schema.

When the event catalog gains a type or a payload gains a field, the lake's
schema (`schema.event_schema()`) gains a column or a struct field and its
fingerprint changes. Before it writes, the projector finds the manifest's
fingerprint out of date and rewrites each file into the new schema (`conform`:
columns and struct fields in the new order, the new ones null); each file is
replaced atomically and a file already in the new schema is left alone, so an
interrupted migration simply continues on the next start. A change that is not
an addition (a field's type changed without an upcaster, say) cannot be
conformed: the error says to project the lake again from the log.
"""
from __future__ import annotations

from pathlib import Path

import polars as pl

from . import lake as lk
from .schema import event_schema, fingerprint

__all__ = ["conform", "conform_expr", "migrate"]


def conform_expr(expr: pl.Expr, have: pl.DataType, want: pl.DataType) -> pl.Expr:
    """`expr` (of type `have`) as type `want`: struct fields matched by name, missing ones null."""
    if have == want:
        return expr
    if isinstance(want, pl.Struct) and isinstance(have, pl.Struct):
        fields = {f.name: f.dtype for f in have.fields}
        parts = [conform_expr(expr.struct.field(f.name), fields[f.name], f.dtype).alias(f.name)
                 if f.name in fields else pl.lit(None, f.dtype).alias(f.name) for f in want.fields]
        return pl.when(expr.is_null()).then(pl.lit(None, want)).otherwise(pl.struct(parts))
    if isinstance(want, pl.List) and isinstance(have, pl.List):
        return expr.list.eval(conform_expr(pl.element(), have.inner, want.inner))
    return expr.cast(want, strict=True)


def conform(frame: pl.DataFrame) -> pl.DataFrame:
    """A frame of an older event schema in the current one."""
    schema = event_schema()
    have = frame.schema
    return frame.select(conform_expr(pl.col(name), have[name], dtype).alias(name) if name in have
                        else pl.lit(None, dtype).alias(name) for name, dtype in schema.items())


def migrate(lake: Path, manifest: lk.Manifest) -> int:
    """Bring every file to the current schema; returns the files rewritten. The caller saves
    the manifest (with the new fingerprint) afterwards."""
    want = fingerprint()
    if manifest.schema == want:
        return 0
    schema = event_schema()
    rewritten = 0
    for f in lk.data_files(lake):
        frame = pl.read_parquet(f.path, hive_partitioning=False)
        if frame.schema == pl.Schema(schema):
            continue
        try:
            lk.write_parquet(f.path, conform(frame))
        except pl.exceptions.PolarsError as exc:
            raise lk.LakeError(f"{f.path} cannot be brought to the current lake schema ({exc}); the lake is "
                               f"derived from the log: move {lake} away and run `ledger project` again") from exc
        rewritten += 1
    manifest.schema = want
    return rewritten
