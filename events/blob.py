"""Large text values (observations, test logs, raw bodies) stored whole up to a cap.

Past the cap a Blob keeps an excerpt plus the sha256 and byte size of the whole,
and says so in `complete`; nothing is silently truncated.
"""
from __future__ import annotations

import hashlib

from pydantic import BaseModel, ConfigDict

__all__ = ["Blob", "make_blob", "DEFAULT_CAP"]

DEFAULT_CAP = 64 * 1024


class Blob(BaseModel):
    """Text kept whole when small, else excerpt + digest of the whole."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    text: str
    """The whole text when `complete`, else its first `cap` bytes (decoded leniently)."""
    sha256: str
    """sha256 of the whole value's bytes."""
    size: int
    """Byte size of the whole value."""
    complete: bool = True
    """False when `text` is only an excerpt."""


def make_blob(data: str | bytes, cap: int = DEFAULT_CAP) -> Blob:
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    digest = hashlib.sha256(raw).hexdigest()
    if len(raw) <= cap:
        text = data if isinstance(data, str) else raw.decode("utf-8", "replace")
        return Blob(text=text, sha256=digest, size=len(raw), complete=True)
    excerpt = raw[:cap].decode("utf-8", "ignore")
    return Blob(text=excerpt, sha256=digest, size=len(raw), complete=False)
