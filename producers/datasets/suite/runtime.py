"""Single-task repos about program state: defaults, flags, caches, retries."""
from __future__ import annotations

from .spec import Edit, Family, TaskSpec, append

__all__ = ["FAMILIES"]

_TAGS = '''"""Tag lists."""

__all__ = ["add_tag", "normalize"]


def normalize(tag):
    """Tags are compared lower-case, without surrounding spaces."""
    return tag.strip().lower()


def add_tag(tag, tags=[]):
    """Add `tag` to `tags` in place (no duplicates) and return the list;
    without `tags`, return a new list holding only `tag`."""
    tag = normalize(tag)
    if tag not in tags:
        tags.append(tag)
    return tags
'''

_TEST_TAGS = '''from tagger.tags import add_tag, normalize


def test_normalize():
    assert normalize("  Python ") == "python"


def test_add_to_given_list_in_place():
    tags = ["a"]
    assert add_tag("B", tags) is tags
    assert tags == ["a", "b"]


def test_no_duplicates():
    assert add_tag("X", ["x"]) == ["x"]
'''

TAGGER = Family("tagger", {
    "tagger/__init__.py": "", "tagger/tags.py": _TAGS, "tests/test_tags.py": _TEST_TAGS},
    (TaskSpec(
        number=1, kind="wrong default", solve_rate=0.75,
        problem_statement=(
            "add_tag() without a list remembers earlier tags\n\n"
            "    >>> add_tag('a')\n    ['a']\n    >>> add_tag('b')\n    ['a', 'b']\n\n"
            "Each call without `tags` should start from an empty list: expected ['b']."),
        fix=(Edit("tagger/tags.py", "def add_tag(tag, tags=[]):\n", "def add_tag(tag, tags=None):\n"),
             Edit("tagger/tags.py", "    tag = normalize(tag)\n",
                  "    tags = [] if tags is None else tags\n    tag = normalize(tag)\n")),
        tests=(append("tests/test_tags.py", '''

def test_default_list_is_fresh():
    add_tag("a")
    assert add_tag("b") == ["b"]
'''),),
        wrong=(Edit("tagger/tags.py", "    tag = normalize(tag)\n",
                    "    tags = list(tags)\n    tag = normalize(tag)\n"),),
        regression=(Edit("tagger/tags.py", "    return tag.strip().lower()\n",
                         "    return tag.strip()\n"),),
        look=("cat tagger/tags.py",)),))

_FLAGS = '''"""Boolean flags from environment variables."""

__all__ = ["get_flag", "parse_bool"]

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}


def parse_bool(value):
    """Parse a flag such as "yes" or "0"; raise ValueError for anything else."""
    text = value.strip()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ValueError(f"not a boolean flag: {value!r}")


def get_flag(env, name, default=False):
    """The flag `name` from the mapping `env`, or `default` when unset."""
    if name not in env:
        return default
    return parse_bool(env[name])
'''

_TEST_FLAGS = '''import pytest

from envflags.flags import get_flag, parse_bool


def test_true_values():
    assert parse_bool("1") and parse_bool("yes")


def test_false_values():
    assert not parse_bool("0") and not parse_bool("") and not parse_bool(" off ")


def test_garbage_rejected():
    with pytest.raises(ValueError):
        parse_bool("maybe")


def test_get_flag_default():
    assert get_flag({}, "DEBUG") is False
    assert get_flag({"DEBUG": "on"}, "DEBUG") is True
'''

ENVFLAGS = Family("envflags", {
    "envflags/__init__.py": "", "envflags/flags.py": _FLAGS, "tests/test_flags.py": _TEST_FLAGS},
    (TaskSpec(
        number=1, kind="missing normalization", solve_rate=0.5,
        problem_statement=(
            "parse_bool() rejects capitalised flags\n\n"
            "    >>> parse_bool('True')\n    ValueError: not a boolean flag: 'True'\n\n"
            "Flags are case-insensitive: 'True', 'YES', 'No' and 'OFF' should all parse."),
        fix=(Edit("envflags/flags.py", "    text = value.strip()\n",
                  "    text = value.strip().lower()\n"),),
        tests=(append("tests/test_flags.py", '''

def test_mixed_case_true():
    assert parse_bool("True") and parse_bool("YES")


def test_mixed_case_false():
    assert not parse_bool("No") and not parse_bool("OFF")
'''),),
        wrong=(Edit("envflags/flags.py", "    if text in TRUE:\n",
                    "    if text.lower() in TRUE:\n"),),
        regression=(Edit("envflags/flags.py", 'FALSE = {"0", "false", "no", "off", ""}',
                         'FALSE = {"0", "false", "no", "off"}'),),
        look=("grep -n 'def parse_bool' -A8 envflags/flags.py",)),))

_LRU = '''"""A least-recently-used cache."""
from collections import OrderedDict

__all__ = ["LRUCache"]


class LRUCache:
    """Holds at most `capacity` entries; the least recently used one is evicted."""

    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._data = OrderedDict()

    def get(self, key, default=None):
        if key not in self._data:
            return default
        return self._data[key]

    def put(self, key, value):
        self._data[key] = value
        self._data.move_to_end(key)
        if len(self._data) > self.capacity:
            self._data.popitem(last=False)

    def __len__(self):
        return len(self._data)
'''

_TEST_LRU = '''import pytest

from lrucache.cache import LRUCache


def test_put_get():
    cache = LRUCache(2)
    cache.put("a", 1)
    assert cache.get("a") == 1 and cache.get("zz", 0) == 0


def test_evicts_oldest():
    cache = LRUCache(2)
    for key in "abc":
        cache.put(key, key)
    assert cache.get("a") is None and cache.get("c") == "c" and len(cache) == 2


def test_put_refreshes_recency():
    cache = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("a", 3)
    cache.put("c", 4)
    assert cache.get("a") == 3 and cache.get("b") is None


def test_capacity_validation():
    with pytest.raises(ValueError):
        LRUCache(0)
'''

LRU = Family("lrucache", {
    "lrucache/__init__.py": "", "lrucache/cache.py": _LRU, "tests/test_cache.py": _TEST_LRU},
    (TaskSpec(
        number=1, kind="missing state update", solve_rate=0.25,
        problem_statement=(
            "LRUCache evicts entries that were just read\n\n"
            "Reading an entry with `get` should make it the most recently used one, but\n"
            "it does not:\n\n"
            "    cache = LRUCache(2); cache.put('a', 1); cache.put('b', 2)\n"
            "    cache.get('a'); cache.put('c', 3)\n"
            "    cache.get('a')  # None: 'a' was evicted instead of 'b'"),
        fix=(Edit("lrucache/cache.py", "            return default\n        return self._data[key]\n",
                  "            return default\n        self._data.move_to_end(key)\n"
                  "        return self._data[key]\n"),),
        tests=(append("tests/test_cache.py", '''

def test_get_refreshes_recency():
    cache = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1
    cache.put("c", 3)
    assert cache.get("a") == 1 and cache.get("b") is None
'''),),
        wrong=(Edit("lrucache/cache.py", "            return default\n        return self._data[key]\n",
                    "            return default\n        self._data.move_to_end(key, last=False)\n"
                    "        return self._data[key]\n"),),
        regression=(Edit("lrucache/cache.py", "popitem(last=False)", "popitem(last=True)"),),
        look=("cat lrucache/cache.py", "grep -n 'def test' tests/test_cache.py")),))

_RETRY = '''"""Retrying flaky calls."""
import time

__all__ = ["retry"]


def retry(func, attempts=3, delay=0.0, exceptions=(Exception,)):
    """Call `func` until it succeeds, at most `attempts` times; when every attempt
    fails, re-raise the last error. Exceptions not in `exceptions` propagate at once."""
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    for attempt in range(attempts):
        try:
            return func()
        except exceptions:
            if delay:
                time.sleep(delay)
    return None
'''

_TEST_RETRY = '''import pytest

from retrykit.retry import retry


def flaky(failures, error=ValueError):
    calls = []

    def func():
        calls.append(1)
        if len(calls) <= failures:
            raise error(f"boom {len(calls)}")
        return "ok"
    return func, calls


def test_success_first_try():
    func, calls = flaky(0)
    assert retry(func) == "ok" and len(calls) == 1


def test_success_after_failures():
    func, calls = flaky(2)
    assert retry(func, attempts=3) == "ok" and len(calls) == 3


def test_attempts_validation():
    with pytest.raises(ValueError):
        retry(lambda: 1, attempts=0)


def test_unlisted_exception_propagates():
    func, calls = flaky(5, error=KeyError)
    with pytest.raises(KeyError):
        retry(func, exceptions=(ValueError,))
    assert len(calls) == 1
'''

RETRY = Family("retrykit", {
    "retrykit/__init__.py": "", "retrykit/retry.py": _RETRY, "tests/test_retry.py": _TEST_RETRY},
    (TaskSpec(
        number=1, kind="swallowed exception", solve_rate=1.0,
        problem_statement=(
            "retry() returns None when every attempt fails\n\n"
            "The docstring promises that the last error is re-raised after `attempts`\n"
            "failures, but `retry(always_fails, attempts=3)` quietly returns None, so\n"
            "callers carry on with a None result."),
        fix=(Edit("retrykit/retry.py", "        except exceptions:\n            if delay:\n"
                  "                time.sleep(delay)\n    return None\n",
                  "        except exceptions:\n            if attempt + 1 == attempts:\n"
                  "                raise\n            if delay:\n"
                  "                time.sleep(delay)\n"),),
        tests=(append("tests/test_retry.py", '''

def test_reraises_last_error():
    func, calls = flaky(5)
    with pytest.raises(ValueError, match="boom 3"):
        retry(func, attempts=3)
    assert len(calls) == 3


def test_single_attempt_reraises():
    func, calls = flaky(1)
    with pytest.raises(ValueError, match="boom 1"):
        retry(func, attempts=1)
'''),),
        wrong=(Edit("retrykit/retry.py", "    return None\n",
                    '    raise RuntimeError("all attempts failed")\n'),),
        regression=(Edit("retrykit/retry.py", "    for attempt in range(attempts):\n",
                         "    for attempt in range(attempts - 1):\n"),),
        look=("cat retrykit/retry.py",)),))

FAMILIES = (TAGGER, ENVFLAGS, LRU, RETRY)
