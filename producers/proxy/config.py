"""The proxy's settings (one place, one docstring per field)."""
from __future__ import annotations

from dataclasses import dataclass, fields

from events.bounds import MAX_EVENT_BYTES
from events.ids import NAME_CHARS, is_name

__all__ = ["ProxyConfig"]


@dataclass
class ProxyConfig:
    host: str = "127.0.0.1"
    """Interface to bind; loopback unless you mean to expose the proxy."""
    port: int = 0
    """Port to try first (0: any free port)."""
    port_tries: int = 20
    """If `port` is busy, try this many ports after it before giving up."""
    token: str | None = None
    """Bearer token agents must send; generated when None."""
    run_id: str = ""
    """run_id written into every event (a request's X-Run-Id header overrides it)."""
    max_body_bytes: int = 4 * 1024 * 1024
    """Larger request bodies are refused with 413 before they are read whole, and so is a request
    whose recorded events would be larger (at most events.bounds.MAX_EVENT_BYTES)."""
    raw_cap: int = 1024 * 1024
    """Raw request bodies are stored whole up to this many bytes, else excerpt + sha256."""
    max_batch: int = 512
    """Most requests' events committed in one log transaction."""
    max_header_bytes: int = 32 * 1024
    """Request line + headers larger than this get 431 and the connection is closed."""
    max_headers: int = 100
    """More header lines than this get 431."""
    header_timeout_s: float = 10.0
    """A new connection, or a request whose first byte arrived, must complete its headers within
    this many seconds (408 otherwise): slow-header clients cannot hold a connection."""
    body_timeout_s: float = 30.0
    """A request body must arrive whole within this many seconds of its headers (408 otherwise);
    time the server itself holds reading back (pipelining, flow control) does not count."""
    send_timeout_s: float = 60.0
    """A client that reads nothing of a pending response for this long is disconnected."""
    keep_alive_s: float = 75.0
    """An idle keep-alive connection is closed after this many seconds."""
    max_connections: int = 512
    """Connections beyond this many open ones are answered 503 and closed at once."""
    keep_turns: int = 1024
    """Episodes whose last turn's token ids stay in memory for prompt deltas (most recently
    active first); an older episode's next prompt is stored in full."""

    def check(self) -> None:
        """ValueError naming the first setting out of range."""
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name not in ("port", "port_tries") and isinstance(value, (int, float)) and value <= 0:
                raise ValueError(f"{f.name} must be positive, got {value}")
        if self.max_body_bytes > MAX_EVENT_BYTES:
            raise ValueError(f"max_body_bytes bounds the recorded events too, so it may be at most "
                             f"{MAX_EVENT_BYTES} (events.bounds.MAX_EVENT_BYTES), got {self.max_body_bytes}")
        if self.run_id and not is_name(self.run_id):
            raise ValueError(f"run_id {self.run_id!r} is not a valid id ({NAME_CHARS})")
