"""Training for the dashboard: every numeric field of `trainer.step` per step, the policies
published (`policy.updated`) and the policy versions the proxy served.

The fields are read from the lake's schema, not listed here: a field added to `trainer.step`
(entropy, a new loss term) gets its curve without a change to the dashboard. A histogram
field (entries of `{bucket, count}`, such as `staleness`) gets its mean as a curve.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from ..schema import payload_dtype
from .data import flat, policy_label, rows_of

__all__ = ["trainer_steps", "curve_fields", "policy_updates", "versions_served"]

_SKIP = {"step", "policy_version"}
_NUMERIC = (pl.Int64, pl.Float64, pl.Int32, pl.Float32, pl.UInt32, pl.UInt64)


def curve_fields() -> list[str]:
    """The trainer.step fields drawn as curves, in payload order (histograms as `<name>_mean`)."""
    out = []
    for f in payload_dtype("trainer.step").fields:
        if f.name in _SKIP:
            continue
        if isinstance(f.dtype, _NUMERIC):
            out.append(f.name)
        elif _histogram(f.dtype):
            out.append(f"{f.name}_mean")
    return out


def _histogram(dtype: pl.DataType) -> bool:
    if not (isinstance(dtype, pl.List) and isinstance(dtype.inner, pl.Struct)):
        return False
    fields = dtype.inner.fields
    return len(fields) == 2 and fields[0].dtype == pl.String and isinstance(fields[1].dtype, _NUMERIC)


def trainer_steps(lake: Path) -> list[dict[str, Any]]:
    """One row per (trainer, step), the latest record of it; histogram fields with their mean."""
    table = flat(lake, "trainer.step")
    if table is None:
        return []
    frame = (table.collect().sort(["log_name", "log_offset"])
             .unique(["trainer_id", "step"], keep="last", maintain_order=True).sort(["trainer_id", "step"]))
    hist = [f for f in payload_dtype("trainer.step").fields if _histogram(f.dtype)]
    for f in hist:
        bucket, count = (x.name for x in f.dtype.inner.fields)  # type: ignore[union-attr]
        entries = pl.col(f.name)
        weight = entries.list.eval(pl.element().struct.field(count).cast(pl.Float64)).list.sum()
        total = entries.list.eval(pl.element().struct.field(bucket).cast(pl.Float64, strict=False)
                                  * pl.element().struct.field(count)).list.sum()
        frame = frame.with_columns(pl.when(weight > 0).then(total / weight).otherwise(None).alias(f"{f.name}_mean"))
    keep = ["trainer_id", "run_id", "ts", "step", *curve_fields(), "policy_version"]
    rows = rows_of(frame.select([c for c in keep if c in frame.columns]))
    for r in rows:
        r["policy_version"] = policy_label(r.get("policy_version"))
    return rows


def policy_updates(lake: Path) -> list[dict[str, Any]]:
    table = flat(lake, "policy.updated", ["ts", "trainer_id", "version", "step", "checkpoint"])
    return [] if table is None else rows_of(table.collect().sort(["trainer_id", "step"]))


def versions_served(lake: Path) -> list[dict[str, Any]]:
    """Per run and policy version: model calls answered with it, first and last time."""
    table = flat(lake, "proxy.response", ["run_id", "ts", "policy_version", "trainable"])
    if table is None:
        return []
    frame = table.collect()
    labels = [policy_label(v) for v in frame["policy_version"].to_list()]
    frame = frame.with_columns(policy=pl.Series(labels, dtype=pl.String))
    out = (frame.group_by(["run_id", "policy"])
           .agg(calls=pl.len(), trainable=pl.col("trainable").sum(), first=pl.col("ts").min(), last=pl.col("ts").max())
           .sort(["run_id", "first"]))
    return rows_of(out)
