from __future__ import annotations

import pytest

from events.log import open_log
from projections.projector import Projector
from projections.views import refresh_all

from .synthetic import write_demo_run


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory):
    """A directory holding `.ledger/ledger.db` (the synthetic run) and `.ledger/lake` (projected)."""
    root = tmp_path_factory.mktemp("demo")
    log = open_log(f"sqlite:///{root}/.ledger/ledger.db")
    write_demo_run(log)
    Projector(log, root / ".ledger" / "lake").run()
    refresh_all(root / ".ledger" / "lake")
    log.close()
    return root


@pytest.fixture(scope="session")
def demo_lake(demo_root):
    return demo_root / ".ledger" / "lake"


@pytest.fixture(scope="session")
def fresh_demo(tmp_path_factory):
    """A directory where the real `ledger` commands just ran a small demo (tests/projections/demo_run.py):
    `.ledger/ledger.db` (eval + param_search runs), `.ledger/demo-rl.db` (RL) and `.ledger/lake` (both)."""
    from .demo_run import make_demo

    root = tmp_path_factory.mktemp("fresh-demo")
    make_demo(root, tmp_path_factory.mktemp("bundled-cache"))
    return root
