"""Patch extraction: the diff against the base commit reproduces the agent's tree."""
from __future__ import annotations

import hashlib
from pathlib import Path


def _tree(workdir: Path) -> dict[str, str]:
    return {str(p.relative_to(workdir)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(workdir.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(workdir).parts}


def test_diff_covers_new_deleted_renamed_binary_and_committed(factory, source_repo):
    with factory.create(*source_repo) as sb:
        res = sb.run("sed -i 's/a + b/a + b + 0/' pkg/core.py && echo new > added.txt && "
                     "git rm -q README.md && git mv old_name.txt new_name.txt && "
                     "printf '\\x00\\x01\\xff' > logo.bin && printf '\\x89PNG\\x00' > img.png && "
                     "git add -A && git commit -qm 'agent commit' && echo later >> added.txt")
        assert res.exit_code == 0, res.output
        patch = sb.diff()
        expected = _tree(sb.workdir)
    assert "rename from old_name.txt" in patch and "rename to new_name.txt" in patch
    assert "deleted file mode" in patch and "new file mode" in patch
    assert "GIT binary patch" in patch
    with factory.create(*source_repo) as fresh:
        (fresh.root / "home" / "p.diff").write_text(patch)
        res = fresh.run("git apply --binary ~/p.diff")
        assert res.exit_code == 0, res.output
        assert _tree(fresh.workdir) == expected


def test_untouched_tree_gives_an_empty_patch(factory, source_repo):
    with factory.create(*source_repo) as sb:
        sb.run("pytest -q")  # byproducts (__pycache__, .pytest_cache) are not a patch
        assert sb.diff() == ""


def test_patch_file_fallback(factory, source_repo):
    body = "diff --git a/README.md b/README.md\n"
    with factory.create(*source_repo) as sb:
        sb.run(f"printf '{body}' > \"$LEDGER_PATCH_FILE\"")
        assert sb.diff() == body
    with factory.create(*source_repo) as sb:
        sb.run(f"printf '{body}' > submission.patch")
        assert sb.diff() == body
    with factory.create(*source_repo) as sb:
        sb.run(f"printf '{body}' > submission.patch; echo x >> README.md")
        patch = sb.diff()
        assert "+x" in patch and "submission.patch" not in patch
