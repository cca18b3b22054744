"""The lake's schema reference, generated from the event catalog (docs/lake-schema.md).

    python -m projections.schema_doc > docs/lake-schema.md     # regenerate
    python -m projections.schema_doc --check docs/lake-schema.md

One section per event type, in catalog order: its topic, key, schema version, struct column,
and each payload field with its lake type and the model's own description of it. A test fails
when the committed file differs from what the catalog generates.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import polars as pl

from .schema import ENVELOPE_COLUMNS, POSITION_COLUMNS, column_of, flat_columns, payload_dtype
from .shapes import OPEN_SHAPES

__all__ = ["render", "type_name", "main"]

_ENVELOPE_DOCS = {
    "id": "event id (UUIDv7 for producer events, uuid5 of the inputs for derived ones)",
    "type": "event type, e.g. `eval.result`", "schema_version": "the event's `v` (older versions are upcast)",
    "ts": "time the producer made it, UTC", "date": "UTC day of `ts` (the `day=` directories repeat it)",
    "run_id": "the run it belongs to", "key": "partition key (the episode id for episodes, proxy, actions)",
    "parent": "id of the event that caused it", "producer": "what wrote it, e.g. `proxy`, `processor.pass_at_k@1`",
    "log_name": "the name the lake follows the source log under (`_manifest.json`)",
    "log_partition": "partition in that log", "log_offset": "offset in that partition",
}


def type_name(dtype: pl.DataType) -> str:
    """A compact, DuckDB-like spelling of a lake type: `list<struct<test, status>>`."""
    if isinstance(dtype, pl.List):
        return f"list<{type_name(dtype.inner)}>"
    if isinstance(dtype, pl.Struct):
        inner = ", ".join(f.name if _scalar(f.dtype) else f"{f.name}: {type_name(f.dtype)}" for f in dtype.fields)
        return f"struct<{inner}>"
    if isinstance(dtype, pl.Datetime):
        return "timestamp (UTC)"
    return {pl.String: "string", pl.Int64: "int64", pl.Float64: "double", pl.Boolean: "bool",
            pl.Date: "date"}.get(type(dtype), str(dtype))


def _scalar(dtype: pl.DataType) -> bool:
    return not isinstance(dtype, (pl.List, pl.Struct))


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _event_section(event_type: str) -> list[str]:
    from events.registry import SPECS
    from events.topics import CATALOG

    spec = SPECS[event_type]
    model = spec.payload
    names = flat_columns(event_type)
    out = [f"### `{event_type}`", "",
           f"Topic `{spec.topic}` (key: {CATALOG[spec.topic].key}), version {spec.version}, column "
           f"`{column_of(event_type)}`; files under `events/{spec.topic}/{event_type}/`.", "",
           "| field | flat column | lake type | meaning |", "|---|---|---|---|"]
    for field in payload_dtype(event_type).fields:
        info = model.model_fields[field.name]
        doc = info.description or ""
        shape = OPEN_SHAPES.get((model.__name__, field.name))
        if shape is not None and not doc:
            doc = shape.doc
        out.append(f"| `{field.name}` | `{names[field.name]}` | `{_cell(type_name(field.dtype))}` | {_cell(doc)} |")
    return out + [""]


def render() -> str:
    """The whole reference, as Markdown."""
    from events.registry import SPECS

    lines = ["# Lake schema reference", "",
             "Generated from the event catalog by `python -m projections.schema_doc`; do not edit by hand "
             "(`tests/projections/test_schema.py` checks it is current). How the lake is laid out and read: "
             "[lake.md](lake.md).", "",
             "Every file under `lake/events/` has the same columns: the envelope and position below, then one "
             "struct column per event type holding its payload (null in rows of other types). "
             "`projections.lake.table(lake, TYPE)` reads one type with the payload's fields as columns (the "
             "*flat column* names below).", "",
             "## Envelope and position", "", "| column | lake type | meaning |", "|---|---|---|"]
    for name, dtype in {**ENVELOPE_COLUMNS, **POSITION_COLUMNS}.items():
        lines.append(f"| `{name}` | `{type_name(dtype)}` | {_ENVELOPE_DOCS[name]} |")
    lines += ["", "## Typed forms of open payload fields", "",
              "Fields the event model leaves open (OpenAI-style bodies, configs) are typed in the lake; "
              "what has no field of its own is kept in `other` (see `projections/shapes.py`).", "",
              "| model field | lake type |", "|---|---|"]
    for (model, field), shape in OPEN_SHAPES.items():
        lines.append(f"| `{model}.{field}` | `{_cell(shape.doc)}` |")
    lines += ["", "## Event types", ""]
    for event_type in SPECS:
        lines += _event_section(event_type)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", metavar="FILE", help="exit 1 if FILE differs from the generated reference")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if Path(args.check).read_text() != text:
            print(f"{args.check} is out of date: python -m projections.schema_doc > {args.check}", file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
