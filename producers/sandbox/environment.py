"""The clean environment commands see: nothing inherited from the host process.

No API keys, no PYTHONPATH, no proxies. `HOME` and `TMPDIR` live inside the
sandbox, pytest plugins installed in the venv are not auto-loaded, and a
`bin/` directory placed first on `PATH` makes `python`,
`python3` and `pytest` run the project's own interpreter (tests need no
network and no install).
"""
from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["SYSTEM_PATH", "clean_env", "write_bin_dir"]

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_WRAPPERS = {
    "python": 'exec "{py}" "$@"\n',
    "python3": 'exec "{py}" "$@"\n',
    "pytest": 'exec "{py}" -m pytest "$@"\n',
}


def write_bin_dir(bin_dir: Path, python: str = sys.executable) -> None:
    """Shell wrappers rather than symlinks: a symlinked venv interpreter would not
    find its `pyvenv.cfg` and would lose the venv's packages."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name, body in _WRAPPERS.items():
        path = bin_dir / name
        path.write_text("#!/bin/bash\n" + body.format(py=python))
        path.chmod(0o755)


def clean_env(root: Path, marker: str, marker_var: str, patch_file: Path) -> dict[str, str]:
    home, tmp = root / "home", root / "tmp"
    return {
        "PATH": f"{root / 'bin'}:{SYSTEM_PATH}",
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TERM": "dumb",
        "PAGER": "cat",
        "GIT_PAGER": "cat",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        "PYTHONUNBUFFERED": "1",
        "PIP_NO_INDEX": "1",
        # The project venv's pytest plugins are not the task repo's dependencies, and
        # loading them costs seconds per run; a repo's own `pytest_plugins` still load.
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        "XDG_CACHE_HOME": str(home / ".cache"),
        "LEDGER_PATCH_FILE": str(patch_file),
        marker_var: marker,
    }
