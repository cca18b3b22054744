"""Hypothesis strategies built from the payload models' own annotations.

New payload fields are picked up automatically; an annotation this module
cannot generate raises TypeError naming the field's type.
"""
from __future__ import annotations

import types
import typing
from datetime import datetime, timezone
from enum import Enum

from hypothesis import strategies as st
from pydantic import BaseModel

__all__ = ["for_type", "for_model", "json_values", "timestamps"]

json_scalars = (st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
timestamps = st.datetimes(timezones=st.just(timezone.utc))

_SCALARS = {
    str: st.text(max_size=30),
    int: st.integers(-(2**63), 2**63 - 1),
    float: st.floats(allow_nan=False, allow_infinity=False),
    bool: st.booleans(),
    type(None): st.none(),
    datetime: timestamps,
}


def for_model(model: type[BaseModel]) -> st.SearchStrategy:
    """Instances of `model`; optional fields are sometimes left at their defaults."""
    required = {}
    optional = {}
    for name, field in model.model_fields.items():
        strategy = for_type(field.annotation)
        (required if field.is_required() else optional)[name] = strategy
    return st.fixed_dictionaries(required, optional=optional).map(lambda kw: model(**kw))


def _policy_versions() -> st.SearchStrategy:
    """PolicyVersion has invariants (step >= 0, unknown carries nothing) its annotations do not say."""
    from events.payloads import UNKNOWN_POLICY, PolicyVersion

    known = st.builds(PolicyVersion.of, st.text(max_size=20), st.integers(0, 2**63 - 1))
    return st.just(UNKNOWN_POLICY) | known


def for_type(tp) -> st.SearchStrategy:
    if tp in _SCALARS:
        return _SCALARS[tp]
    if getattr(tp, "__name__", "") == "PolicyVersion":
        return _policy_versions()
    if tp is typing.Any:
        return json_values
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return st.deferred(lambda: for_model(tp))
    if isinstance(tp, type) and issubclass(tp, Enum):
        return st.sampled_from(list(tp))
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Literal:
        return st.sampled_from(args)
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(for_type(a) for a in args))
    if origin is list:
        return st.lists(for_type(args[0]), max_size=3)
    if origin is dict:
        return st.dictionaries(for_type(args[0]), for_type(args[1]), max_size=3)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return st.lists(for_type(args[0]), max_size=3).map(tuple)
    if origin is tuple:
        return st.tuples(*(for_type(a) for a in args))
    if origin is typing.Annotated:
        return for_type(args[0])
    raise TypeError(f"no hypothesis strategy for annotation {tp!r}; extend tests/events/strategies.py")
