"""`textkit`: string helpers; three bugs fixed one after another on one repo."""
from __future__ import annotations

from .spec import Edit, Family, TaskSpec, append

__all__ = ["FAMILY"]

_STRINGS = '''"""Small string helpers."""

__all__ = ["truncate", "word_count"]


def truncate(text, width, suffix="..."):
    """Shorten `text` to at most `width` characters, ending with `suffix` when cut."""
    if width < len(suffix):
        raise ValueError("width is smaller than the suffix")
    if len(text) < width:
        return text
    return text[: width - len(suffix)] + suffix


def word_count(text):
    """Number of whitespace-separated words in `text`."""
    return len(text.split(" "))
'''

_TIMEFMT = '''"""Human-readable durations."""

__all__ = ["format_duration"]


def format_duration(seconds):
    """Format seconds as H:MM:SS, or M:SS under an hour (fractions are dropped)."""
    if seconds < 0:
        raise ValueError("negative duration")
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes}:{secs:02d}"
    return f"{minutes}:{secs:02d}"
'''

_TEST_STRINGS = '''import pytest

from textkit.strings import truncate, word_count


def test_truncate_short_text_unchanged():
    assert truncate("hi", 10) == "hi"


def test_truncate_long_text():
    assert truncate("hello world", 8) == "hello..."


def test_truncate_one_over():
    assert truncate("hello!", 5) == "he..."


def test_truncate_rejects_tiny_width():
    with pytest.raises(ValueError):
        truncate("hello", 2)


def test_word_count_simple():
    assert word_count("one two three") == 3
'''

_TEST_TIMEFMT = '''import pytest

from textkit.timefmt import format_duration


def test_minutes_and_seconds():
    assert format_duration(65) == "1:05"


def test_zero():
    assert format_duration(0) == "0:00"


def test_negative_rejected():
    with pytest.raises(ValueError):
        format_duration(-1)


def test_fractions_dropped():
    assert format_duration(59.9) == "0:59"
'''

TRUNCATE = TaskSpec(
    number=1, kind="off-by-one", solve_rate=1.0,
    problem_statement=(
        "truncate() cuts text that already fits\n\n"
        "`truncate(text, width)` should return `text` unchanged when it is at most `width`\n"
        "characters long, but a text of exactly `width` characters is shortened:\n\n"
        "    >>> truncate('hello', 5)\n    'he...'\n\n"
        "Expected `'hello'`. Longer texts are still cut to `width` characters."),
    fix=(Edit("textkit/strings.py", "    if len(text) < width:\n", "    if len(text) <= width:\n"),),
    tests=(append("tests/test_strings.py", '''

def test_truncate_exact_width():
    assert truncate("hello", 5) == "hello"


def test_truncate_exact_width_custom_suffix():
    assert truncate("abc", 3, suffix="..") == "abc"
'''),),
    wrong=(Edit("textkit/strings.py", "    if len(text) < width:\n",
                "    if len(text) <= width + 1:\n"),),
    regression=(Edit("textkit/strings.py", "text[: width - len(suffix)] + suffix",
                     "text[:width] + suffix"),),
    look=("grep -n 'def truncate' -A8 textkit/strings.py", "cat tests/test_strings.py"),
)

DURATION = TaskSpec(
    number=2, kind="string formatting", solve_rate=0.75,
    problem_statement=(
        "format_duration() drops the leading zero of minutes past an hour\n\n"
        "    >>> format_duration(3725)\n    '1:2:05'\n\n"
        "Durations of an hour or more should read H:MM:SS, i.e. '1:02:05'."),
    fix=(Edit("textkit/timefmt.py", 'f"{hours}:{minutes}:{secs:02d}"',
              'f"{hours}:{minutes:02d}:{secs:02d}"'),),
    tests=(append("tests/test_timefmt.py", '''

def test_hours_pad_minutes():
    assert format_duration(3725) == "1:02:05"


def test_exact_hour():
    assert format_duration(3600) == "1:00:00"
'''),),
    wrong=(Edit("textkit/timefmt.py", 'f"{hours}:{minutes}:{secs:02d}"',
                'f"{hours:02d}:{minutes}:{secs:02d}"'),),
    regression=(Edit("textkit/timefmt.py", '    return f"{minutes}:{secs:02d}"',
                     '    return f"{minutes}:{secs}"'),),
    look=("cat textkit/timefmt.py",),
)

WORD_COUNT = TaskSpec(
    number=3, kind="missing edge case", solve_rate=0.5,
    problem_statement=(
        "word_count() is wrong for empty text and repeated whitespace\n\n"
        "    >>> word_count('')\n    1\n    >>> word_count('a  b')\n    3\n\n"
        "An empty string has no words, and runs of spaces, tabs or newlines separate\n"
        "words just like a single space does."),
    fix=(Edit("textkit/strings.py", '    return len(text.split(" "))',
              "    return len(text.split())"),),
    tests=(append("tests/test_strings.py", '''

def test_word_count_empty():
    assert word_count("") == 0


def test_word_count_repeated_whitespace():
    assert word_count("one  two\\tthree\\nfour") == 4
'''),),
    wrong=(Edit("textkit/strings.py", '    return len(text.split(" "))',
                '    return len(text.split(" ")) if text else 0'),),
    regression=(Edit("textkit/strings.py", '    return len(text.split(" "))',
                     "    return len(text.split()) - 1"),),
    look=("grep -n 'def word_count' -A3 textkit/strings.py",),
)

FAMILY = Family(
    name="textkit",
    files={
        "textkit/__init__.py": '"""Text helpers."""\nfrom .strings import truncate, word_count\n'
                               'from .timefmt import format_duration\n\n'
                               '__all__ = ["format_duration", "truncate", "word_count"]\n',
        "textkit/strings.py": _STRINGS,
        "textkit/timefmt.py": _TIMEFMT,
        "tests/test_strings.py": _TEST_STRINGS,
        "tests/test_timefmt.py": _TEST_TIMEFMT,
    },
    tasks=(TRUNCATE, DURATION, WORD_COUNT),
)
