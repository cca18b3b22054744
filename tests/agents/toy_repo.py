"""A throwaway git repository with one bug, its fix and its tests (a real repo, real pytest)."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ToyInstance", "make_toy_repo", "FIX_PATCH", "TEST_PATCH", "BREAK_PATCH", "UNRELATED_PATCH"]

CALC = '''def add(a, b):
    return a + b


def sub(a, b):
    return a + b
'''

TESTS = '''from calc import add


def test_add():
    assert add(2, 3) == 5


class TestAdd:
    def test_zero(self):
        assert add(0, 0) == 0
'''

FIX_PATCH = '''diff --git a/calc.py b/calc.py
--- a/calc.py
+++ b/calc.py
@@ -3,4 +3,4 @@ def add(a, b):
 
 
 def sub(a, b):
-    return a + b
+    return a - b
'''

BREAK_PATCH = '''diff --git a/calc.py b/calc.py
--- a/calc.py
+++ b/calc.py
@@ -1,6 +1,6 @@
 def add(a, b):
-    return a + b
+    return a + b + 1
 
 
 def sub(a, b):
-    return a + b
+    return a - b
'''

UNRELATED_PATCH = '''diff --git a/notes.txt b/notes.txt
new file mode 100644
--- /dev/null
+++ b/notes.txt
@@ -0,0 +1 @@
+hello
'''

TEST_PATCH = '''diff --git a/test_sub.py b/test_sub.py
new file mode 100644
--- /dev/null
+++ b/test_sub.py
@@ -0,0 +1,5 @@
+from calc import sub
+
+
+def test_sub():
+    assert sub(5, 3) == 2
'''


@dataclass
class ToyInstance:
    instance_id: str
    repo_path: Path
    base_commit: str
    repo: str = "toy/calc"
    problem_statement: str = "sub(a, b) returns a + b; it must return a - b."
    patch: str = FIX_PATCH
    test_patch: str = TEST_PATCH
    FAIL_TO_PASS: list[str] = field(default_factory=lambda: ["test_sub.py::test_sub"])
    PASS_TO_PASS: list[str] = field(default_factory=lambda: [
        "test_calc.py::test_add", "test_calc.py::TestAdd::test_zero"])


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo,
                          check=True, capture_output=True, text=True).stdout


def make_toy_repo(root: Path, instance_id: str = "toy__calc-1") -> ToyInstance:
    repo = root / "calc-repo"
    repo.mkdir(parents=True)
    _git(repo, "init", "-q")
    (repo / "calc.py").write_text(CALC)
    (repo / "test_calc.py").write_text(TESTS)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "calc")
    return ToyInstance(instance_id=instance_id, repo_path=repo,
                       base_commit=_git(repo, "rev-parse", "HEAD").strip())
