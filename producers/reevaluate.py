"""`ledger reevaluate RUN_ID`: re-run the evaluator on a run's stored patches (DESIGN.md §5.2).

No agent runs: the patches come from the run's `episode.finished` events, the
instances from the run's dataset manifest (reloaded and checked against its
sha256). The verdicts go into a NEW run (`--as-run`, default `RUN_ID.reeval-XXXX`)
whose `run.started` copies the config and manifest with `mode: reevaluate`
and `parent_run: RUN_ID`, so the processors score it side by side with the
original (first-verdict-wins scoring would otherwise ignore the new verdicts,
and the original run's results stay untouched).
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["register", "reevaluate", "ReevaluateError"]


class ReevaluateError(RuntimeError):
    """The run cannot be re-evaluated; the message says why."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reevaluate", help="re-run the evaluator on a run's stored patches (no agent re-run)")
    p.add_argument("run_id", metavar="RUN_ID")
    p.add_argument("--log", default=None, help="log URL (default: $LEDGER_LOG or sqlite:///.ledger/ledger.db)")
    p.add_argument("--as-run", default=None, help="run id of the re-evaluation (default: RUN_ID.reeval-XXXX)")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds a test run may take")
    p.add_argument("--cache-dir", default=None, help="dataset cache directory")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from events.cli import log_url
    from events.log import open_log

    log = open_log(log_url(args.log))
    try:
        new_run, results = reevaluate(log, args.run_id, as_run=args.as_run, timeout_s=args.timeout,
                                      cache_dir=args.cache_dir)
    except ReevaluateError as exc:
        print(f"ledger reevaluate: {exc}", file=sys.stderr)
        return 2
    finally:
        log.close()
    print(json.dumps({"run_id": new_run, "parent_run": args.run_id, "evaluated": len(results),
                      "resolved": sum(r.resolved for r in results)}))
    return 0


def _sandboxes(config: dict[str, Any]):
    from pydantic import ValidationError

    from producers.orchestrator.components import make_sandbox_factory
    from producers.orchestrator.config import RunConfig
    from producers.sandbox.local import LocalSandboxFactory

    try:
        return make_sandbox_factory(RunConfig.model_validate(config), evaluation=True)
    except ValidationError:
        return LocalSandboxFactory()


def _stored(log, run_id: str):
    started, finished = None, {}
    for rec in log.read("runs"):
        if rec.event.type == "run.started" and rec.event.run_id == run_id:
            started = rec.event
    if started is None:
        raise ReevaluateError(f"no run.started for run {run_id!r} in {log.url}")
    for rec in log.read("episodes"):
        ev = rec.event
        if ev.type == "episode.finished" and ev.run_id == run_id:
            finished.setdefault(ev.payload.episode_id, ev)  # the first record of an episode decides
    return started, finished


def _instances(manifest, cache_dir):
    from producers.datasets import load_dataset

    loaded = load_dataset(manifest.source, split=manifest.split, revision=manifest.revision or None,
                          instance_filter=list(manifest.instance_ids) or None, cache_dir=cache_dir)
    if loaded.manifest.sha256 != manifest.sha256:
        raise ReevaluateError(f"dataset {manifest.source!r} changed since the run "
                              f"(sha256 {loaded.manifest.sha256[:12]} != {manifest.sha256[:12]})")
    return {i.instance_id: i for i in loaded.instances}


def reevaluate(log, run_id: str, *, as_run: str | None = None, timeout_s: float = 1800.0,
               cache_dir: str | None = None, sandboxes=None):
    """Evaluate every stored patch of `run_id` again into run `as_run`; returns (run id, results)."""
    import events
    from events.ids import uuid7
    from events.payloads import RunFinished, RunStarted
    from producers.evaluator import Evaluator, record_eval

    started, finished = _stored(log, run_id)
    p = started.payload
    instances = _instances(p.manifest, cache_dir)
    new_run = as_run or f"{run_id}.reeval-{uuid7()[-8:]}"
    log.append("runs", [events.new(RunStarted(config=p.config, manifest=p.manifest, planned=len(finished),
                                              mode="reevaluate", parent_run=run_id),
                                   producer="evaluator.reevaluate", run_id=new_run, parent=started.id)])
    evaluator = Evaluator(sandboxes or _sandboxes(p.config), timeout_s=timeout_s)
    results = []
    for ev in finished.values():
        f = ev.payload
        instance = instances.get(f.instance_id)
        if instance is None:
            raise ReevaluateError(f"instance {f.instance_id!r} of episode {f.episode_id} is not in the dataset")
        result = evaluator.evaluate(instance, f.patch, sample_idx=f.sample_idx, episode_id=f.episode_id)
        record_eval(log, result, run_id=new_run, parent=ev.id, producer="evaluator.reevaluate")
        results.append(result)
    log.append("runs", [events.new(RunFinished(episodes=len(finished), evaluated=len(results)),
                                   producer="evaluator.reevaluate", run_id=new_run)])
    return new_run, results
