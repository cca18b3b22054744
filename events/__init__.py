"""Events: models, codec, versions, topic catalog and the log (DESIGN.md §2-3)."""
from .blob import Blob, make_blob
from .codec import DecodeError, decode, decode_obj, encode
from .envelope import Envelope
from .ids import InputDigest, content_digest, derived_id, uuid7
from .registry import EVENT_CLASSES, SPECS, Event, derive, new
from .topics import CATALOG, TOPICS

__all__ = [
    "Blob", "CATALOG", "DecodeError", "EVENT_CLASSES", "Envelope", "Event", "InputDigest", "SPECS", "TOPICS",
    "content_digest", "decode", "decode_obj", "derive", "derived_id", "encode", "make_blob", "new", "uuid7",
]
