"""JUnit XML -> pytest node ids, statuses and failure messages (producers/test_report.py),
on reports pytest really wrote."""
from __future__ import annotations

import subprocess
import sys

from producers.test_report import JUNIT_OPTIONS, parse_failures, parse_junit

BASE = '''class CacheTests:
    def test_get(self):
        assert self.make() == 1

    def test_put(self):
        assert self.make() == 2
'''
LRU = '''from tests import CacheTests


class TestLRU(CacheTests):
    def make(self):
        return 1


def test_plain():
    assert 1 + 1 == 2
'''


def test_inherited_tests_keep_the_file_they_were_collected_from(tmp_path):
    """pytest's xunit1 `file` is where a test function is written (tests/__init__.py for an
    inherited one); the node id is the module it was collected from."""
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "__init__.py").write_text(BASE)
    (tmp_path / "tests" / "test_lru.py").write_text(LRU)
    report = tmp_path / "junit.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *JUNIT_OPTIONS,
                    f"--junitxml={report}", "tests"], cwd=tmp_path, capture_output=True, timeout=120,
                   env={"PATH": "/usr/bin:/bin", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    xml = report.read_text()
    assert 'file="tests/__init__.py"' in xml
    assert parse_junit(xml) == {"tests/test_lru.py::TestLRU::test_get": "PASSED",
                                "tests/test_lru.py::TestLRU::test_put": "FAILED",
                                "tests/test_lru.py::test_plain": "PASSED"}
    message, traceback = parse_failures(xml)["tests/test_lru.py::TestLRU::test_put"]
    # not rewritten by pytest (tests/__init__.py is no test module): a bare AssertionError
    assert message == "AssertionError" and ">       assert self.make() == 2" in traceback
