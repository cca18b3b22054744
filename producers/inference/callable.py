"""`callable:module:attr`: an in-process generate function (how verl's server manager plugs in).

`attr` may be
- an object that already implements `Upstream` (used as is),
- a zero-argument factory returning one (a class or function),
- an `async def generate(request: GenerateRequest) -> Generation` function.
A plain function is streamed as one chunk carrying its whole result.
"""
from __future__ import annotations

import importlib
import inspect
from typing import Any, AsyncIterator, Awaitable, Callable

from .base import Chunk, GenerateRequest, Generation, Upstream, whole_as_stream

__all__ = ["CallableUpstream", "FunctionUpstream", "resolve"]

GenerateFn = Callable[[GenerateRequest], Awaitable[Generation]]


def resolve(target: str) -> Any:
    module_name, sep, attr = target.partition(":")
    if not sep or not attr:
        raise ValueError(f"callable upstream {target!r}: expected module:attr")
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ValueError(f"callable upstream {target!r}: cannot import {module_name}: {exc}") from exc
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"callable upstream {target!r}: {module_name} has no attribute {attr}")
        obj = getattr(obj, part)
    return obj


def CallableUpstream(target: str, **opts: Any) -> Upstream:
    """The Upstream named by `module:attr` (see the module docstring)."""
    obj = resolve(target)
    if isinstance(obj, Upstream) and not inspect.isclass(obj):
        return obj
    if inspect.iscoroutinefunction(obj):
        return FunctionUpstream(obj, name=f"callable:{target}")
    if callable(obj):
        made = obj(**opts)
        if isinstance(made, Upstream):
            return made
        raise ValueError(f"callable upstream {target!r}: calling it gave {type(made).__name__}, not an Upstream")
    raise ValueError(f"callable upstream {target!r} is neither an Upstream, a factory nor an async function")


class FunctionUpstream:
    """Adapts an async generate function to the Upstream protocol."""

    def __init__(self, fn: GenerateFn, name: str = "callable"):
        self.fn = fn
        self.name = name

    async def generate(self, request: GenerateRequest) -> Generation:
        gen = await self.fn(request)
        if not isinstance(gen, Generation):
            raise TypeError(f"{self.name} returned {type(gen).__name__}, expected Generation")
        if not gen.upstream:
            gen.upstream = self.name
        return gen

    def stream(self, request: GenerateRequest) -> AsyncIterator[Chunk]:
        return whole_as_stream(self, request)

    async def aclose(self) -> None:
        pass
