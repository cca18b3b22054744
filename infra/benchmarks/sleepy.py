"""`callable:infra.benchmarks.sleepy:SleepyDemoUpstream`: the demo policy whose commands first sleep.

The same scripted answers as the `demo` upstream (so the same verdicts), each
bash command prefixed with `sleep S;` where S is $LEDGER_SLEEPY_S (default 1).
An episode then spends most of its time waiting, not computing: the workload
on which more workers must mean more throughput even on a machine with few
cores (`ledger bench workers`), and long enough episodes for kill tests.
"""
from __future__ import annotations

import os
from dataclasses import replace

__all__ = ["SleepyDemoUpstream", "SLEEP_ENV"]

SLEEP_ENV = "LEDGER_SLEEPY_S"


def SleepyDemoUpstream(**opts):
    """A `DemoUpstream` over the bundled scripts with every command sleeping first."""
    from producers.datasets.bundled import demo_scripts
    from producers.inference.demo import DemoUpstream

    raw = os.environ.get(SLEEP_ENV, "1")
    try:
        seconds = float(raw)
    except ValueError:
        raise ValueError(f"{SLEEP_ENV}={raw!r} is not a number of seconds") from None
    scripts = demo_scripts()
    scripts = scripts.values() if isinstance(scripts, dict) else scripts
    slow = {s.instance_id: replace(s, solve=[f"sleep {seconds:g}; {c}" for c in s.solve],
                                   wrong=[f"sleep {seconds:g}; {c}" for c in s.wrong]) for s in scripts}
    return DemoUpstream(scripts=slow, **opts)
