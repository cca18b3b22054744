"""The model proxy: agents talk OpenAI to it; it forwards and records every call (DESIGN.md §3-4).

Imports are lazy so that `ledger --help` stays cheap.
"""
from __future__ import annotations

from typing import Any

__all__ = ["ProxyConfig", "ProxyServer"]


def __getattr__(name: str) -> Any:
    if name == "ProxyServer":
        from .server import ProxyServer

        return ProxyServer
    if name == "ProxyConfig":
        from .config import ProxyConfig

        return ProxyConfig
    raise AttributeError(name)
