"""The proxy's settings (one place, one docstring per field)."""
from __future__ import annotations

from dataclasses import dataclass

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
    max_body_bytes: int = 16 * 1024 * 1024
    """Larger request bodies are refused with 413 before they are read whole."""
    raw_cap: int = 1024 * 1024
    """Raw request bodies are stored whole up to this many bytes, else excerpt + sha256."""
    max_batch: int = 512
    """Most requests' events committed in one log transaction."""
    keep_turns: int = 1024
    """Episodes whose last turn's token ids stay in memory for prompt deltas (most recently
    active first); an older episode's next prompt is stored in full."""
