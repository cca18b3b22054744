'''Test runners of the mini suite's non-pytest repositories, as files of those repos.

- `DJANGO_RUNTESTS` is `tests/runtests.py` of a Django-style repo: labels are
  dotted test modules under tests/, `--verbosity 2` prints one
  `name (module.Class.name) ... ok|FAIL|ERROR|skipped '...'` line per test the way
  Django's DiscoverRunner (unittest's verbose result) does, then the failure blocks
  and `Ran N tests`. `--settings` and `--parallel` are accepted as Django's are.
- `SYMPY_BIN_TEST` is `bin/test` of a SymPy-style repo: `bin/test -C --verbose
  FILES` prints SymPy's reporter layout: the header block, per file `path[n] `, one
  `name ok|F|E|f|s` line per test, the file's `[OK]`/`[FAIL]` right-aligned at 80
  columns on the last test's line, the `____ path:name ____` blocks of exceptions
  and failures, the centered `tests finished: ...` line and `DO *NOT* COMMIT!`.

Both are written for this project (standard library only); the formats are the
ones the official harness's `parse_log_django` / `parse_log_sympy` read.
'''
from __future__ import annotations

__all__ = ["DJANGO_RUNTESTS", "SYMPY_BIN_TEST"]

DJANGO_RUNTESTS = '''#!/usr/bin/env python
"""Run the test suite: ./tests/runtests.py [--verbosity N] [--settings M] [--parallel N] [LABEL ...]"""
import argparse
import os
import sys
import unittest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("labels", nargs="*")
    parser.add_argument("-v", "--verbosity", type=int, default=1)
    parser.add_argument("--settings", default="test_sqlite")
    parser.add_argument("--parallel", default="1")
    args = parser.parse_args()
    sys.path[:0] = [TESTS_DIR, os.path.dirname(TESTS_DIR)]
    import minidjango
    print("Testing against Django installed in %r" % os.path.dirname(minidjango.__file__), file=sys.stderr)
    labels = args.labels or sorted(n for n in os.listdir(TESTS_DIR) if n.endswith("_tests"))
    for label in labels:
        print("Importing application %s" % label.split(".")[0], file=sys.stderr)
    suite = unittest.defaultTestLoader.loadTestsFromNames(labels)
    result = unittest.TextTestRunner(verbosity=args.verbosity, stream=sys.stderr).run(suite)
    sys.exit(bool(result.failures or result.errors or result.unexpectedSuccesses))


if __name__ == "__main__":
    main()
'''

SYMPY_BIN_TEST = '''#!/usr/bin/env python
"""Run tests: bin/test [-C] [--verbose] PATH ... (test_* functions of test_*.py files)."""
import importlib.util
import os
import platform
import random
import sys
import time
import traceback

WIDTH = 80
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def center(text, delim="="):
    text = " %s " % text if text else ""
    left = (WIDTH - len(text)) // 2
    return delim * left + text + delim * (WIDTH - left - len(text))


def files_of(paths):
    for path in paths:
        if os.path.isdir(path):
            for base, _, names in sorted(os.walk(path)):
                yield from (os.path.join(base, n) for n in sorted(names) if n.startswith("test_") and n.endswith(".py"))
        else:
            yield path


def load(path):
    spec = importlib.util.spec_from_file_location(path[:-3].replace("/", "."), os.path.join(ROOT, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [getattr(module, n) for n in vars(module) if n.startswith("test_") and callable(getattr(module, n))]


class XFail(Exception):
    pass


class Skip(Exception):
    pass


def header(seed):
    v = sys.version_info
    out = [center("test process starts"),
           "executable:         %s  (%d.%d.%d-%s-%d) [%s]" % (sys.executable, *v, platform.python_implementation()),
           "architecture:       64-bit", "cache:              no", "ground types:       python ",
           "numpy:              None", "random seed:        %d" % seed,
           "hash randomization: on (PYTHONHASHSEED=%s)" % os.environ.get("PYTHONHASHSEED", "0"), ""]
    return "\\n".join(out) + "\\n"


def main():
    args = sys.argv[1:]
    verbose = "--verbose" in args or "-v" in args
    paths = [a for a in args if not a.startswith("-")] or ["."]
    sys.path.insert(0, ROOT)
    seed = random.randrange(10 ** 8)
    out = sys.stdout
    out.write(header(seed))
    passed, failed, errors, skipped, xfailed = 0, [], [], 0, 0
    start = time.perf_counter()
    for path in files_of(paths):
        tests = load(path)
        line = "%s[%d] " % (path, len(tests))
        file_failed = False
        for test in tests:
            if verbose:
                out.write(line + "\\n")
                line = test.__name__ + " "
            try:
                test()
            except XFail:
                xfailed += 1
                line += "f"
            except Skip as exc:
                skipped += 1
                line += ("%s s" % exc) if verbose else "s"
            except AssertionError:
                failed.append((path, test, sys.exc_info()))
                line += "F"
                file_failed = True
            except Exception:
                errors.append((path, test, sys.exc_info()))
                line += "E"
                file_failed = True
            else:
                passed += 1
                line += "ok" if verbose else "."
        status = "[FAIL]" if file_failed else "[OK]"
        out.write(line + " " + status.rjust(WIDTH - len(line) - 1) + "\\n" + ("\\n" if verbose else ""))
    out.write("\\n")
    for title, items, sep in (("exceptions", errors, ":"), ("failures", failed, "::")):
        for path, test, (kind, value, tb) in items:
            out.write(center("", "_") + "\\n" + center("%s%s%s" % (path, sep, test.__name__), "_") + "\\n")
            out.write("".join(traceback.format_exception(kind, value, tb.tb_next)))
        if items:
            out.write("\\n")
    summary = "tests finished: %d passed, " % passed
    for count, what in ((len(failed), "failed"), (skipped, "skipped"), (xfailed, "expected to fail"),
                        (len(errors), "exceptions")):
        if count:
            summary += "%d %s, " % (count, what)
    out.write(center(summary + "in %.2f seconds" % (time.perf_counter() - start)) + "\\n")
    if failed or errors:
        out.write("DO *NOT* COMMIT!\\n")
    sys.exit(1 if failed or errors else 0)


if __name__ == "__main__":
    main()
'''
