"""`kafka://host:port[,host:port][?opt=value&...]`: the Kafka log URL and its options."""
from __future__ import annotations

from dataclasses import dataclass, fields
from urllib.parse import parse_qsl, urlparse

__all__ = ["KafkaOptions", "parse_kafka_url"]


@dataclass(frozen=True)
class KafkaOptions:
    bootstrap: tuple[str, ...]
    """`host:port` of each bootstrap broker."""
    prefix: str = ""
    """Prepended to every topic name on the wire (e.g. `staging.`); the API speaks logical names."""
    session_timeout_ms: int | None = None
    """Consumer-group session timeout; None keeps the client's default (45000)."""
    heartbeat_interval_ms: int | None = None
    """Consumer-group heartbeat interval; None keeps the client's default (3000)."""
    max_poll_interval_ms: int | None = None
    """Longest gap between polls before a member is evicted; None keeps the default (300000)."""
    bootstrap_timeout_ms: int | None = None
    """How long to try reaching the cluster before giving up; None keeps the default (30000)."""
    replication_factor: int = -1
    """Replicas of each topic created on open; -1 uses the broker's default."""
    create_topics: bool = True
    """Create the catalog's topics on open (already existing ones are left as they are)."""
    linger_ms: int = 20
    """Producer linger: appends flush explicitly, so this only shapes background batching."""
    batch_size: int = 1024 * 1024
    """Producer batch size in bytes (larger batches, fewer requests)."""

    def consumer_group_config(self) -> dict:
        names = ("session_timeout_ms", "heartbeat_interval_ms", "max_poll_interval_ms")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}

    def client_config(self) -> dict:
        cfg: dict = {"bootstrap_servers": list(self.bootstrap)}
        if self.bootstrap_timeout_ms is not None:
            cfg["bootstrap_timeout_ms"] = self.bootstrap_timeout_ms
        return cfg


_INT_OPTS = {"session_timeout_ms", "heartbeat_interval_ms", "max_poll_interval_ms",
             "bootstrap_timeout_ms", "replication_factor", "linger_ms", "batch_size"}


def parse_kafka_url(url: str) -> KafkaOptions:
    parsed = urlparse(url)
    if parsed.scheme != "kafka" or not parsed.netloc:
        raise ValueError(f"not a Kafka log URL: {url!r} (expected kafka://HOST:PORT[,HOST:PORT][?prefix=...])")
    hosts = tuple(h.strip() for h in parsed.netloc.split(",") if h.strip())
    for host in hosts:
        if ":" not in host:
            raise ValueError(f"Kafka bootstrap {host!r} in {url!r} has no port (expected HOST:PORT)")
    known = {f.name for f in fields(KafkaOptions)} - {"bootstrap"}
    values: dict = {}
    for name, raw in parse_qsl(parsed.query, keep_blank_values=True):
        if name not in known:
            raise ValueError(f"unknown Kafka log option {name!r} in {url!r}; known: {', '.join(sorted(known))}")
        values[name] = _convert(name, raw)
    return KafkaOptions(bootstrap=hosts, **values)


def _convert(name: str, raw: str):
    if name == "create_topics":
        if raw.lower() not in ("1", "0", "true", "false", "yes", "no"):
            raise ValueError(f"Kafka log option create_topics must be true or false, got {raw!r}")
        return raw.lower() in ("1", "true", "yes")
    if name in _INT_OPTS:
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"Kafka log option {name} must be an integer, got {raw!r}") from None
    return raw
