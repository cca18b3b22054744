"""The mini suite's repositories and their bugs (files and edits, as the bundled suite's).

Three histories: a Django-style project run by `tests/runtests.py`, a SymPy-style one
run by `bin/test`, and a pytest project (classes, parametrized ids with spaces, `/`
paths and enum names, skips, xfails) published under six repo names, each with the
test command and log parser of a SWE-bench repository family (astropy, requests,
seaborn, matplotlib, sphinx, pytest). Each history holds two tasks; a task also has
a partial fix (some FAIL_TO_PASS pass) where its tests allow one.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..suite.spec import Edit, Family, TaskSpec, append
from .runners import DJANGO_RUNTESTS, SYMPY_BIN_TEST

__all__ = ["Flavour", "MiniFamily", "FAMILIES", "OWNER"]

OWNER = "swe-mini"
_SETUP = 'from setuptools import setup, find_packages\n\nsetup(name="{name}", version="0.1", packages=find_packages())\n'


@dataclass(frozen=True)
class Flavour:
    """One published repository: its name, test command and the harness's log parser."""

    repo: str
    test_cmd: str
    log_parser: str
    style: str
    """Which SWE-bench repository family's log format this reproduces."""


@dataclass(frozen=True)
class MiniFamily:
    family: Family
    flavours: tuple[Flavour, ...]
    directive: str
    """How a test file becomes a directive: `path` or `dotted` (Django labels under tests/)."""
    partial: dict[int, tuple[Edit, ...]] = field(default_factory=dict)
    """Task number -> a fix that makes some, not all, FAIL_TO_PASS tests pass."""


def _look(*cmds: str) -> tuple[str, ...]:
    return cmds


# -- Django-style ------------------------------------------------------------------------
_TEXT = '''"""Text utilities."""
import re


def capfirst(value):
    """Capitalize the first character of the value."""
    return value[0].upper() + value[1:]


def slugify(value):
    """Lowercase; drop what is not a word character, a space or a hyphen; spaces become hyphens."""
    value = re.sub(r"[^\\w\\s-]", "", value.lower())
    return re.sub(r"[-\\s]+", "-", value)


def wrap(text, width):
    """Wrap words into lines of at most `width` characters."""
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return "\\n".join(lines + [line] if line else lines)
'''
_DJ_TESTS = '''import unittest

from minidjango.utils import text


class TestUtilsText(unittest.TestCase):
    def test_capfirst(self):
        self.assertEqual(text.capfirst("hello world"), "Hello world")

    def test_slugify(self):
        self.assertEqual(text.slugify("Hello World"), "hello-world")

    def test_slugify_symbols(self):
        """slugify() drops symbols."""
        self.assertEqual(text.slugify("a & b"), "a-b")

    def test_wrap(self):
        self.assertEqual(text.wrap("a bb ccc", 4), "a bb\\nccc")

    @unittest.skip("needs a database")
    def test_wrap_database(self):
        pass
'''
_DJ_FILE = "tests/utils_tests/test_text.py"
MINIDJANGO = MiniFamily(
    family=Family("minidjango", {
        "minidjango/__init__.py": 'VERSION = (0, 1)\n', "minidjango/utils/__init__.py": "",
        "minidjango/utils/text.py": _TEXT, "tests/runtests.py": DJANGO_RUNTESTS,
        "tests/utils_tests/__init__.py": "", _DJ_FILE: _DJ_TESTS,
        "setup.py": _SETUP.format(name="minidjango")}, tasks=(
        TaskSpec(1, "missing edge case",
                 "capfirst() crashes on an empty string and on None\n\n`capfirst('')` raises IndexError; "
                 "Django's own capfirst returns the value unchanged when it is empty or None.",
                 fix=(Edit("minidjango/utils/text.py", "    return value[0].upper() + value[1:]",
                           "    return value and value[0].upper() + value[1:]"),),
                 tests=(Edit(_DJ_FILE, '''    def test_slugify(self):''', '''    def test_capfirst_empty(self):
        self.assertEqual(text.capfirst(""), "")

    def test_capfirst_none(self):
        self.assertIsNone(text.capfirst(None))

    def test_slugify(self):'''),),
                 wrong=(Edit("minidjango/utils/text.py", "    return value[0].upper() + value[1:]",
                             "    if value is None:\n        return \"\"\n    return value[0].upper() + value[1:]"),),
                 regression=(Edit("minidjango/utils/text.py", "    return value[0].upper() + value[1:]",
                                  "    return value and value.upper()"),),
                 look=_look("grep -n capfirst -r minidjango")),
        TaskSpec(2, "missing normalisation",
                 "slugify() keeps leading and trailing hyphens\n\n`slugify('  -Hello World-  ')` gives "
                 "'-hello-world-' instead of 'hello-world'.",
                 fix=(Edit("minidjango/utils/text.py", '''    return re.sub(r"[-\\s]+", "-", value)''',
                           '''    return re.sub(r"[-\\s]+", "-", value).strip("-_")'''),),
                 tests=(Edit(_DJ_FILE, '''    def test_wrap(self):''', '''    def test_slugify_strips(self):
        """Leading and trailing whitespace and hyphens go."""
        self.assertEqual(text.slugify("  -Hello World-  "), "hello-world")

    def test_wrap(self):'''),),
                 wrong=(Edit("minidjango/utils/text.py", '''    return re.sub(r"[-\\s]+", "-", value)''',
                             '''    return re.sub(r"[-\\s]+", "-", value.strip())'''),),
                 regression=(Edit("minidjango/utils/text.py", '''    return re.sub(r"[-\\s]+", "-", value)''',
                                  '''    return re.sub(r"[-\\s]+", "_", value).strip("-_")'''),),
                 look=_look("grep -n slugify -r minidjango")))),
    flavours=(Flavour(f"{OWNER}/minidjango", "./tests/runtests.py --verbosity 2 --settings=test_sqlite --parallel 1",
                      "parse_log_django", "django"),),
    directive="dotted",
    partial={1: (Edit("minidjango/utils/text.py", "    return value[0].upper() + value[1:]",
                      "    return value[:1].upper() + value[1:]"),)})

# -- SymPy-style -------------------------------------------------------------------------
_NUMBERS = '''"""Integer functions."""


def igcd(a, b):
    """Greatest common divisor of two integers."""
    while b:
        a, b = b, a % b
    return a


def ilcm(a, b):
    """Least common multiple of two integers."""
    return a * b // igcd(a, b)


def mod_inverse(a, m):
    """The inverse of a modulo m."""
    return pow(a, -1, m)
'''
_SY_TESTS = '''from minisympy.core.numbers import igcd, ilcm, mod_inverse


def test_igcd():
    assert igcd(12, 18) == 6


def test_ilcm():
    assert ilcm(4, 6) == 12


def test_mod_inverse():
    assert mod_inverse(3, 11) == 4
'''
_SY_FILE = "minisympy/core/tests/test_numbers.py"
MINISYMPY = MiniFamily(
    family=Family("minisympy", {
        "minisympy/__init__.py": "", "minisympy/core/__init__.py": "",
        "minisympy/core/numbers.py": _NUMBERS, "minisympy/core/tests/__init__.py": "", _SY_FILE: _SY_TESTS,
        "bin/test": SYMPY_BIN_TEST, "setup.py": _SETUP.format(name="minisympy")}, tasks=(
        TaskSpec(1, "missing normalisation",
                 "igcd returns a negative gcd for a negative second argument\n\n`igcd(4, -6)` is -2; it should "
                 "be 2, and `igcd(-4, -6)` should be 2 as well.",
                 fix=(Edit("minisympy/core/numbers.py", "        a, b = b, a % b\n    return a",
                           "        a, b = b, a % b\n    return abs(a)"),),
                 tests=(Edit(_SY_FILE, "\n\ndef test_ilcm():", '''\n\ndef test_igcd_negative():
    assert igcd(4, -6) == 2


def test_igcd_both_negative():
    assert igcd(-4, -6) == 2


def test_ilcm():'''),),
                 wrong=(Edit("minisympy/core/numbers.py", "    while b:", "    a = abs(a)\n    while b:"),),
                 regression=(Edit("minisympy/core/numbers.py", "        a, b = b, a % b\n    return a",
                                  "        a, b = b, a % b\n    return abs(a) + 1"),),
                 look=_look("cat minisympy/core/numbers.py")),
        TaskSpec(2, "exception handling",
                 "ilcm(0, 0) raises ZeroDivisionError\n\nThe lcm with 0 is 0.",
                 fix=(Edit("minisympy/core/numbers.py", "    return a * b // igcd(a, b)",
                           "    if a == 0 or b == 0:\n        return 0\n    return abs(a * b) // igcd(a, b)"),),
                 tests=(Edit(_SY_FILE, "\n\ndef test_mod_inverse():", '''\n\ndef test_ilcm_zero():
    assert ilcm(0, 0) == 0


def test_mod_inverse():'''),),
                 wrong=(Edit("minisympy/core/numbers.py", "    return a * b // igcd(a, b)",
                             "    return a * b // (igcd(a, b) or 1) + 1"),),
                 regression=(Edit("minisympy/core/numbers.py", "    return pow(a, -1, m)",
                                  "    return pow(a, 1, m)"),),
                 look=_look("cat minisympy/core/numbers.py")))),
    flavours=(Flavour(f"{OWNER}/minisympy", "PYTHONWARNINGS='ignore::UserWarning,ignore::SyntaxWarning' "
                      "bin/test -C --verbose", "parse_log_sympy", "sympy"),),
    directive="path",
    partial={1: (Edit("minisympy/core/numbers.py", "    while b:", "    if a < 0 and b < 0:\n        a, b = -a, -b\n    while b:"),)})

# -- pytest-style --------------------------------------------------------------------------
_OPS = '''"""Small numeric and path helpers."""
import enum


class MouseButton(enum.IntEnum):
    LEFT = 1
    RIGHT = 3


def clamp(x, lo, hi):
    """x limited to [lo, hi]."""
    if x < lo:
        return lo
    if x >= hi + 1:
        return hi
    return x


def mean(xs):
    """The arithmetic mean."""
    return sum(xs) / len(xs)


def basename(path):
    """The last component of a /-separated path."""
    return path.rsplit("/", 1)[-1]


def button_name(button):
    return MouseButton(button).name.lower()
'''
_PY_TESTS = '''import pytest

from pyops.ops import MouseButton, basename, button_name, clamp, mean


class TestClamp:
    @pytest.mark.parametrize("x,expected", [(-1, 0), (5, 5)])
    def test_clamp(self, x, expected):
        assert clamp(x, 0, 10) == expected

    def test_clamp_bounds_message(self):
        assert clamp(0, 0, 10) == 0, "lower bound - inclusive"


@pytest.mark.parametrize("xs", [[1, 2, 3], [2.5]], ids=["ints", "one float"])
def test_mean(xs):
    assert mean(xs) == sum(xs) / len(xs)


@pytest.mark.parametrize("path", ["/srv/data/file.txt"])
def test_basename(path):
    assert basename(path) == "file.txt"


@pytest.mark.parametrize("button", [MouseButton.LEFT, MouseButton.RIGHT], ids=["MouseButton.LEFT", "MouseButton.RIGHT"])
def test_button_name(button):
    assert button_name(button) in ("left", "right")


@pytest.mark.skip(reason="needs a display")
def test_display():
    pass


@pytest.mark.xfail(reason="float rounding")
def test_mean_rounding():
    assert mean([0.1, 0.2]) == 0.15
'''
_PY_FILE = "tests/test_ops.py"
PYOPS = MiniFamily(
    family=Family("pyops", {
        "pyops/__init__.py": "", "pyops/ops.py": _OPS, _PY_FILE: _PY_TESTS,
        "setup.py": _SETUP.format(name="pyops"), "setup.cfg": "[tool:pytest]\npythonpath = .\n"}, tasks=(
        TaskSpec(1, "off-by-one",
                 "clamp() lets values just above the upper bound through\n\n`clamp(10.5, 0, 10)` is 10.5; "
                 "it should be 10. Integers are only clamped from hi + 1 on.",
                 fix=(Edit("pyops/ops.py", "    if x >= hi + 1:", "    if x > hi:"),),
                 tests=(Edit(_PY_FILE, '''    def test_clamp_bounds_message(self):''', '''    @pytest.mark.parametrize("x", [10.5, 11])
    def test_clamp_high(self, x):
        assert clamp(x, 0, 10) == 10

    def test_clamp_fraction(self):
        assert clamp(10.25, 0, 10) == 10, "upper bound - fractions"

    def test_clamp_bounds_message(self):'''),),
                 wrong=(Edit("pyops/ops.py", "    if x >= hi + 1:", "    if x >= hi + 2:"),),
                 regression=(Edit("pyops/ops.py", "    if x < lo:\n        return lo",
                                  "    if x < lo:\n        return hi"),),
                 look=_look("cat pyops/ops.py")),
        TaskSpec(2, "exception handling",
                 "mean([]) raises ZeroDivisionError\n\nIt should raise ValueError('mean of an empty sequence').",
                 fix=(Edit("pyops/ops.py", "    return sum(xs) / len(xs)",
                           "    if not xs:\n        raise ValueError(\"mean of an empty sequence\")\n"
                           "    return sum(xs) / len(xs)"),),
                 tests=(append(_PY_FILE, '''

def test_mean_empty():
    with pytest.raises(ValueError, match="empty"):
        mean([])


@pytest.mark.parametrize("xs", [(), []], ids=["empty tuple", "empty list"])
def test_mean_empty_kinds(xs):
    with pytest.raises(ValueError):
        mean(xs)
'''),),
                 wrong=(Edit("pyops/ops.py", "    return sum(xs) / len(xs)",
                             "    return sum(xs) / (len(xs) or 1)"),),
                 regression=(Edit("pyops/ops.py", '    return path.rsplit("/", 1)[-1]',
                                  '    return path.split("/")[1]'),),
                 look=_look("cat pyops/ops.py")))),
    flavours=(
        Flavour(f"{OWNER}/pyops-astropy", "pytest -rA -vv -o console_output_style=classic --tb=no",
                "parse_log_astropy", "astropy"),
        Flavour(f"{OWNER}/pyops-requests", "pytest -rA", "parse_log_requests", "requests"),
        Flavour(f"{OWNER}/pyops-seaborn", "pytest --no-header -rA", "parse_log_seaborn", "seaborn"),
        Flavour(f"{OWNER}/pyops-matplotlib", "pytest -rA", "parse_log_matplotlib", "matplotlib"),
        Flavour(f"{OWNER}/pyops-sphinx", "pytest -rA --durations 25", "parse_log_sphinx", "sphinx"),
        Flavour(f"{OWNER}/pyops-pytest", "pytest -rA", "parse_log_pytest", "pytest")),
    directive="path",
    partial={1: (Edit("pyops/ops.py", "    if x >= hi + 1:", "    if x >= hi + 0.5:"),),
             2: (Edit("pyops/ops.py", "    return sum(xs) / len(xs)",
                      "    if isinstance(xs, list) and not xs:\n"
                      "        raise ValueError(\"mean of an empty sequence\")\n"
                      "    return sum(xs) / len(xs)"),)})

FAMILIES: tuple[MiniFamily, ...] = (MINIDJANGO, MINISYMPY, PYOPS)
