"""Per-episode KV caches for the in-process sampler: token in, token out pays off.

Turn t+1's prompt starts with turn t's prompt + sampled ids (the proxy builds it
so), so the keys and values computed for them at turn t still hold. The
sampler keeps, for the `size` most recently used episodes, the ids its cache
covers and the cache; a prompt that starts with those ids feeds only the rest.
Anything else (a fork, a reload of the weights, an evicted episode) starts
from an empty cache. Memory: about 46 KB per token for SmolLM2-135M in fp32.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any

__all__ = ["PrefixCache"]


class PrefixCache:
    def __init__(self, size: int = 4):
        self.size = size
        self._entries: OrderedDict[str, tuple[list[int], Any]] = OrderedDict()
        self.hits = 0
        self.reused_tokens = 0

    def take(self, episode_id: str, prompt: list[int]) -> tuple[int, Any]:
        """(tokens of `prompt` already in the returned cache, cache or None); the entry is removed."""
        entry = self._entries.pop(episode_id, None)
        if entry is None:
            return 0, None
        ids, cache = entry
        n = len(ids)
        if n >= len(prompt) or prompt[:n] != ids:
            return 0, None
        self.hits += 1
        self.reused_tokens += n
        return n, cache

    def put(self, episode_id: str, ids: list[int], cache: Any) -> None:
        """Remember that `cache` holds keys/values for exactly `ids`."""
        if self.size <= 0:
            return
        self._entries[episode_id] = (ids, cache)
        self._entries.move_to_end(episode_id)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()
