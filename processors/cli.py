"""`ledger process | replay | rescore | alerts`: the processors' commands.

    ledger process [NAMES...] --log URL [--follow]      run reducers from the groups' offsets
    ledger replay PROCESSOR --log URL                   rebuild from offset 0 into a fresh group
    ledger rescore RUN_ID --log URL (--reward NAME@V | --scorer V)
    ledger alerts --log URL [--follow] [--rules FILE]   print alerts live (and POST webhooks)
"""
from __future__ import annotations

import argparse
import json
import sys

__all__ = ["register"]


def _log_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log", default=None, help="log URL (default: $LEDGER_LOG or sqlite:///.ledger/ledger.db)")


def _runtime_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batch", type=int, default=1000, help="records per transaction")
    p.add_argument("--snapshot-every", type=int, default=20, help="batches between state snapshots")
    p.add_argument("--snapshot-dir", default=".ledger/snapshots",
                   help="snapshot files for non-SQLite backends")


def register(sub: argparse._SubParsersAction) -> None:
    from .catalog import PROCESSORS, add_options

    p = sub.add_parser("process", help="run stream processors over the log")
    p.add_argument("names", nargs="*", metavar="NAME", help=f"processors (default: all of {', '.join(PROCESSORS)})")
    _log_arg(p)
    p.add_argument("--follow", "-f", action="store_true", help="keep processing new events")
    _runtime_args(p)
    add_options(p)
    p.set_defaults(func=_process)

    r = sub.add_parser("replay", help="rebuild a processor's state and outputs from offset 0 (fresh group)")
    r.add_argument("name", metavar="PROCESSOR")
    _log_arg(r)
    _runtime_args(r)
    add_options(r)
    r.set_defaults(func=_replay)

    s = sub.add_parser("rescore", help="new versioned rewards or scores from stored eval results")
    s.add_argument("run_id", metavar="RUN_ID")
    _log_arg(s)
    what = s.add_mutually_exclusive_group(required=True)
    what.add_argument("--reward", dest="rescore_reward", default=None, help="reward function NAME@VERSION")
    what.add_argument("--scorer", dest="rescore_scorer", type=int, default=None, help="scorer version")
    s.add_argument("--k", default="1", help="comma-separated k values (with --scorer)")
    s.set_defaults(func=_rescore)

    a = sub.add_parser("alerts", help="print alerts as they are raised and resolved")
    _log_arg(a)
    a.add_argument("--follow", "-f", action="store_true", help="keep printing new alerts")
    a.add_argument("--rules", default=None, help="alert rules YAML (for webhooks and --process)")
    a.add_argument("--process", action="store_true", help="also run the alerts processor in this process")
    a.set_defaults(func=_alerts)


def _open(args: argparse.Namespace):
    from events.cli import log_url
    from events.log import open_log

    return open_log(log_url(args.log))


def _reducers(names: list[str], args: argparse.Namespace):
    from .catalog import build

    return [build(n, args) for n in names]


def _print_stats(stats) -> None:
    print(json.dumps({g: vars(s) for g, s in stats.items()}, sort_keys=True))


def _process(args: argparse.Namespace) -> int:
    from .catalog import PROCESSORS
    from .runtime import Runtime

    try:
        reducers = _reducers(args.names or list(PROCESSORS), args)
    except ValueError as exc:
        print(f"ledger process: {exc}", file=sys.stderr)
        return 2
    log = _open(args)
    rt = Runtime(log, reducers, batch=args.batch, snapshot_every=args.snapshot_every,
                 snapshot_dir=args.snapshot_dir)
    try:
        _print_stats(rt.run(follow=args.follow))
    except KeyboardInterrupt:
        rt.close()
    finally:
        log.close()
    return 0


def _replay(args: argparse.Namespace) -> int:
    from events.ids import uuid7

    from .runtime import Runtime

    try:
        reducers = _reducers([args.name], args)
    except ValueError as exc:
        print(f"ledger replay: {exc}", file=sys.stderr)
        return 2
    log = _open(args)
    try:
        rt = Runtime(log, reducers, batch=args.batch, snapshot_every=args.snapshot_every,
                     snapshot_dir=args.snapshot_dir, group_suffix=f".replay-{uuid7()}")
        _print_stats(rt.run())
    finally:
        log.close()
    return 0


def _rescore(args: argparse.Namespace) -> int:
    from .rescore import rescore_rewards, rescore_scores
    from .reward_fns import parse_reward

    log = _open(args)
    try:
        if args.rescore_reward:
            fn = parse_reward(args.rescore_reward)
            made = rescore_rewards(log, args.run_id, fn)
            print(json.dumps({"run_id": args.run_id, "reward": fn.ident, "rewards": made}))
        else:
            ks = tuple(int(k) for k in args.k.split(",") if k)
            made, stored, state = rescore_scores(log, args.run_id, args.rescore_scorer, ks)
            print(json.dumps({"run_id": args.run_id, "scorer": args.rescore_scorer, "scores": made,
                              "stored": stored, "already_present": made - stored,
                              "dropped_duplicates": state.norm.duplicates.get(args.run_id, 0),
                              "dropped_malformed": state.norm.malformed.get(args.run_id, 0)}))
    except ValueError as exc:
        print(f"ledger rescore: {exc}", file=sys.stderr)
        return 2
    finally:
        log.close()
    return 0


def _alerts(args: argparse.Namespace) -> int:
    from events.cli import log_url
    from events.log import open_log

    from .alert_feed import follow_alerts

    log = open_log(log_url(args.log), read_only=not args.process)
    try:
        return follow_alerts(log, follow=args.follow, rules_path=args.rules, process=args.process)
    except KeyboardInterrupt:
        return 0
    finally:
        log.close()
