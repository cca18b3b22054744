"""Single-task repos about numbers: calendar, money, paging, versions."""
from __future__ import annotations

from .spec import Edit, Family, TaskSpec, append

__all__ = ["FAMILIES"]

_CALENDAR = '''"""Gregorian calendar arithmetic."""

__all__ = ["days_in_month", "is_leap"]


def is_leap(year):
    """True for leap years in the Gregorian calendar."""
    return year % 4 == 0 and year % 100 != 0


def days_in_month(year, month):
    """Number of days in `month` (1-12) of `year`."""
    if not 1 <= month <= 12:
        raise ValueError(f"month out of range: {month}")
    if month == 2:
        return 29 if is_leap(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31
'''

_TEST_CALENDAR = '''import pytest

from calendarx.dates import days_in_month, is_leap


def test_common_year():
    assert not is_leap(2023)


def test_leap_year():
    assert is_leap(2024)


def test_century_not_leap():
    assert not is_leap(1900)


def test_days_in_april():
    assert days_in_month(2023, 4) == 30


def test_bad_month():
    with pytest.raises(ValueError):
        days_in_month(2023, 13)
'''

CALENDAR = Family("calendarx", {
    "calendarx/__init__.py": "", "calendarx/dates.py": _CALENDAR,
    "tests/test_dates.py": _TEST_CALENDAR}, (TaskSpec(
        number=1, kind="wrong condition", solve_rate=1.0,
        problem_statement=(
            "is_leap(2000) returns False\n\n"
            "Years divisible by 400 are leap years in the Gregorian calendar, so 2000 was\n"
            "a leap year and February 2000 had 29 days; `is_leap(2000)` returns False and\n"
            "`days_in_month(2000, 2)` returns 28. 1900 (divisible by 100, not 400) must\n"
            "stay a common year."),
        fix=(Edit("calendarx/dates.py", "    return year % 4 == 0 and year % 100 != 0\n",
                  "    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)\n"),),
        tests=(append("tests/test_dates.py", '''

def test_400_year_rule():
    assert is_leap(2000)


def test_february_2000():
    assert days_in_month(2000, 2) == 29
'''),),
        wrong=(Edit("calendarx/dates.py", "    return year % 4 == 0 and year % 100 != 0\n",
                    "    return year % 4 == 0 or year % 400 == 0\n"),),
        regression=(Edit("calendarx/dates.py", "    return year % 4 == 0 and year % 100 != 0\n",
                         "    return year % 4 == 0\n"),),
        look=("cat calendarx/dates.py",)),))

_MONEY = '''"""Money amounts as integer cents."""

__all__ = ["format_cents", "to_cents"]


def to_cents(amount):
    """Convert a decimal string with at most two decimals, like "19.99", to cents."""
    return int(float(amount) * 100)


def format_cents(cents):
    """Format cents as a decimal string: 1999 -> "19.99", -5 -> "-0.05"."""
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"
'''

_TEST_MONEY = '''from money.cents import format_cents, to_cents


def test_whole_amount():
    assert to_cents("5") == 500


def test_format_cents():
    assert format_cents(1999) == "19.99"
    assert format_cents(-5) == "-0.05"
    assert format_cents(100) == "1.00"
'''

MONEY = Family("money", {
    "money/__init__.py": "", "money/cents.py": _MONEY, "tests/test_cents.py": _TEST_MONEY},
    (TaskSpec(
        number=1, kind="float truncation", solve_rate=0.5,
        problem_statement=(
            "to_cents('19.99') returns 1998\n\n"
            "    >>> to_cents('19.99'), to_cents('0.29'), to_cents('-19.99')\n"
            "    (1998, 28, -1998)\n\n"
            "A cent goes missing for many amounts. Expected (1999, 29, -1999)."),
        fix=(Edit("money/cents.py", "    return int(float(amount) * 100)\n",
                  "    return round(float(amount) * 100)\n"),),
        tests=(append("tests/test_cents.py", '''

def test_to_cents_exact():
    assert to_cents("19.99") == 1999
    assert to_cents("0.29") == 29


def test_to_cents_negative():
    assert to_cents("-19.99") == -1999
'''),),
        wrong=(Edit("money/cents.py", "    return int(float(amount) * 100)\n",
                    "    return int(float(amount) * 100 + 0.5)\n"),),
        regression=(Edit("money/cents.py", "{abs(cents) % 100:02d}", "{abs(cents) % 100}"),),
        look=("cat money/cents.py", "python -c 'print(float(\"19.99\") * 100)'")),))

_PAGES = '''"""Splitting lists into pages."""

__all__ = ["page", "page_count"]


def page(items, number, size=10):
    """The items on page `number` (1-based) when pages hold `size` items."""
    if number < 1 or size < 1:
        raise ValueError("page number and size start at 1")
    start = number * size
    return items[start:start + size]


def page_count(total, size=10):
    """How many pages `total` items fill."""
    return -(-total // size)
'''

_TEST_PAGES = '''import pytest

from pager.pages import page, page_count


def test_page_count():
    assert page_count(25) == 3
    assert page_count(0) == 0


def test_rejects_page_zero():
    with pytest.raises(ValueError):
        page([1, 2, 3], 0)


def test_page_far_beyond_end_is_empty():
    assert page(list(range(5)), 10, size=2) == []
'''

PAGER = Family("pager", {
    "pager/__init__.py": "", "pager/pages.py": _PAGES, "tests/test_pages.py": _TEST_PAGES},
    (TaskSpec(
        number=1, kind="off-by-one", solve_rate=0.75,
        problem_statement=(
            "page() skips the first page\n\n"
            "Pages are numbered from 1, but `page(items, 1)` returns the second page:\n\n"
            "    >>> page(list(range(25)), 1)\n    [10, 11, 12, 13, 14, 15, 16, 17, 18, 19]\n\n"
            "and the last, partial page can never be reached."),
        fix=(Edit("pager/pages.py", "    start = number * size\n",
                  "    start = (number - 1) * size\n"),),
        tests=(append("tests/test_pages.py", '''

def test_first_page():
    assert page(list(range(25)), 1) == list(range(10))


def test_last_partial_page():
    assert page(list(range(25)), 3) == [20, 21, 22, 23, 24]
'''),),
        wrong=(Edit("pager/pages.py", "    start = number * size\n",
                    "    start = number * size - 1\n"),),
        regression=(Edit("pager/pages.py", "    return -(-total // size)\n",
                         "    return total // size\n"),),
        look=("grep -n 'def page' -A7 pager/pages.py",)),))

_SEMVER = '''"""Semantic version parsing and comparison."""

__all__ = ["compare", "parse"]


def parse(version):
    """Split "1.2.3" (or "v1.2.3") into its three components."""
    parts = version.strip().lstrip("v").split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"not a semantic version: {version!r}")
    return tuple(parts)


def compare(a, b):
    """-1, 0 or 1 as version `a` is lower than, equal to or higher than `b`."""
    pa, pb = parse(a), parse(b)
    return (pa > pb) - (pa < pb)
'''

_TEST_SEMVER = '''import pytest

from semver.version import compare


def test_equal():
    assert compare("1.2.3", "v1.2.3") == 0


def test_patch_order():
    assert compare("1.2.3", "1.2.4") == -1


def test_invalid():
    for bad in ["1.2", "1.2.x", ""]:
        with pytest.raises(ValueError):
            compare(bad, "1.0.0")
'''

SEMVER = Family("semver", {
    "semver/__init__.py": "", "semver/version.py": _SEMVER, "tests/test_version.py": _TEST_SEMVER},
    (TaskSpec(
        number=1, kind="wrong type comparison", solve_rate=0.25,
        problem_statement=(
            "compare() orders versions alphabetically\n\n"
            "    >>> compare('1.10.0', '1.9.0')\n    -1\n\n"
            "1.10.0 is newer than 1.9.0; components must compare as numbers."),
        fix=(Edit("semver/version.py", "    return tuple(parts)\n",
                  "    return tuple(int(p) for p in parts)\n"),),
        tests=(append("tests/test_version.py", '''

def test_minor_is_numeric():
    assert compare("1.10.0", "1.9.0") == 1


def test_wide_numbers():
    assert compare("1.0.100", "1.0.99") == 1
'''),),
        wrong=(Edit("semver/version.py", "    return tuple(parts)\n",
                    "    return tuple(p.zfill(2) for p in parts)\n"),),
        regression=(Edit("semver/version.py", "    if len(parts) != 3 or",
                         "    if len(parts) < 2 or"),),
        look=("cat semver/version.py",)),))

FAMILIES = (CALENDAR, MONEY, PAGER, SEMVER)
