"""SWE-bench's predictions format: JSON lines (or a JSON list / id-keyed object).

Reading validates every record first; a bad one is reported with its line
number (or list index) and nothing is returned, so an import is all or nothing.
Extra keys are kept out of the model but tolerated, as SWE-bench does.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

__all__ = ["Prediction", "PredictionsError", "read_predictions", "parse_predictions",
           "write_predictions"]


class PredictionsError(ValueError):
    """A predictions file that cannot be used; the message names the line and the field."""


class Prediction(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    instance_id: str
    """The SWE-bench instance id the patch is for."""
    model_name_or_path: str = ""
    """Who made the patch (SWE-bench's model column)."""
    model_patch: str = ""
    """The patch (a unified diff); null in the file reads as empty."""
    sample_idx: int | None = None
    """Which sample of the instance this is (ledger extension; default: order of appearance)."""

    @field_validator("instance_id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return v

    @field_validator("model_patch", mode="before")
    @classmethod
    def _patch(cls, v: Any) -> Any:
        return "" if v is None else v


def _describe(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'record'}: {e['msg']}"
                     for e in exc.errors())


def _whole_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def _records(text: str) -> Iterable[tuple[str, Any]]:
    """(where, object) pairs: a JSON list / id-keyed object, else JSON lines."""
    data = _whole_json(text) if text.lstrip()[:1] in ("[", "{") else None
    if isinstance(data, (list, dict)):
        keyed = isinstance(data, dict) and data and all(isinstance(v, dict) for v in data.values())
        if isinstance(data, dict) and not keyed:
            yield "line 1", data
            return
        for i, obj in enumerate(data if isinstance(data, list) else list(data.values())):
            yield f"record {i}", obj
        return
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield f"line {n}", json.loads(line)
        except json.JSONDecodeError as exc:
            raise PredictionsError(f"line {n}: not valid JSON: {exc.msg}") from None


def parse_predictions(text: str) -> list[Prediction]:
    preds = []
    for where, obj in _records(text):
        if not isinstance(obj, dict):
            raise PredictionsError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        try:
            preds.append(Prediction.model_validate(obj))
        except ValidationError as exc:
            raise PredictionsError(f"{where}: {_describe(exc)}") from None
    return preds


def read_predictions(path: str | Path) -> list[Prediction]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PredictionsError(f"cannot read {path}: {exc.strerror}") from None
    return parse_predictions(text)


def write_predictions(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write JSON lines atomically (temp file + rename); returns the count."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    n = 0
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    tmp.replace(path)
    return n
