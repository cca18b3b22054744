"""`ledger proxy`: run the model proxy in the foreground."""
from __future__ import annotations

import argparse

from events.bounds import MAX_EVENT_BYTES

from .config import ProxyConfig

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("proxy", help="run the OpenAI-compatible model proxy that records every call",
                       description="Agents talk to this proxy instead of the inference server; every call "
                       "is forwarded to the upstream and recorded as proxy.* events in the log.")
    p.add_argument("--log", required=True, help="event log URL, e.g. sqlite:///.ledger/ledger.db")
    p.add_argument("--upstream", required=True,
                   help="openai:URL | callable:module:attr | hf:PATH_OR_TINY | demo | replay:LOG_URL")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="first port to try (default 8080; 0 = any)")
    p.add_argument("--port-tries", type=int, default=20, help="busy port: try this many next ones")
    p.add_argument("--token", default=None, help="bearer token agents must send (default: generated)")
    p.add_argument("--run-id", default="", help="run_id stamped on every event")
    d = ProxyConfig()
    p.add_argument("--max-body-bytes", type=int, default=d.max_body_bytes,
                   help=f"larger bodies, and requests whose recorded events would be larger, get 413 "
                   f"(default {d.max_body_bytes}; at most {MAX_EVENT_BYTES})")
    p.add_argument("--max-header-bytes", type=int, default=d.max_header_bytes,
                   help=f"request line + headers larger than this get 431 (default {d.max_header_bytes})")
    p.add_argument("--max-headers", type=int, default=d.max_headers,
                   help=f"more header lines than this get 431 (default {d.max_headers})")
    p.add_argument("--header-timeout", type=float, default=d.header_timeout_s,
                   help=f"seconds to send a request's headers, from connecting or its first byte; 408 after "
                   f"(default {d.header_timeout_s})")
    p.add_argument("--body-timeout", type=float, default=d.body_timeout_s,
                   help=f"seconds to send a request's body after its headers; 408 after (default {d.body_timeout_s})")
    p.add_argument("--send-timeout", type=float, default=d.send_timeout_s,
                   help=f"a client reading nothing of its response this long is disconnected "
                   f"(default {d.send_timeout_s})")
    p.add_argument("--keep-alive", type=float, default=d.keep_alive_s,
                   help=f"seconds an idle keep-alive connection stays open (default {d.keep_alive_s})")
    p.add_argument("--max-connections", type=int, default=d.max_connections,
                   help=f"connections beyond this many get 503 and are closed (default {d.max_connections})")
    p.add_argument("--keep-turns", type=int, default=1024,
                   help="episodes whose last turn's token ids stay in memory for prompt deltas (default 1024)")
    p.add_argument("--upstream-timeout", type=float, default=600.0, help="seconds per upstream call")
    p.add_argument("--upstream-retries", type=int, default=2, help="retries on connect errors/5xx/timeouts")
    p.add_argument("--upstream-backoff", type=float, default=0.2, help="first retry delay (doubles)")
    p.add_argument("--follow-policy", metavar="TRAINER_ID", default=None,
                   help="load each policy.updated checkpoint of this trainer between requests and stamp "
                        "responses with {trainer_id, step} (hf: in process; openai: a vLLM server in dev mode)")
    p.set_defaults(func=run)


def upstream_opts(args: argparse.Namespace) -> dict:
    opts: dict = {}
    if args.upstream.startswith("openai:"):
        opts = {"timeout_s": args.upstream_timeout, "retries": args.upstream_retries,
                "backoff_s": args.upstream_backoff}
    if args.follow_policy:
        opts |= {"log_url": args.log, "follow": args.follow_policy}
    return opts


def run(args: argparse.Namespace) -> int:
    import gc
    import json
    import signal
    import sys

    from .server import ProxyServer

    if args.follow_policy and args.upstream.split(":", 1)[0] not in ("hf", "openai"):
        print(f"ledger proxy: --follow-policy needs an hf: or openai: upstream, not {args.upstream!r} "
              "(its weights cannot follow a trainer)", file=sys.stderr)
        return 2
    config = ProxyConfig(port_tries=args.port_tries, max_body_bytes=args.max_body_bytes,
                         keep_turns=args.keep_turns, max_header_bytes=args.max_header_bytes,
                         max_headers=args.max_headers, header_timeout_s=args.header_timeout,
                         body_timeout_s=args.body_timeout, send_timeout_s=args.send_timeout,
                         keep_alive_s=args.keep_alive, max_connections=args.max_connections, run_id=args.run_id)
    try:
        config.check()
    except ValueError as exc:
        print(f"ledger proxy: {exc}", file=sys.stderr)
        return 2
    server = ProxyServer(args.log, args.upstream, host=args.host, port=args.port, token=args.token,
                         run_id=args.run_id, config=config, upstream_opts=upstream_opts(args))
    server.start()
    gc.freeze()  # startup objects never need collecting; keeps GC pauses off the hot path
    if args.port and server.port != args.port:
        print(f"port {args.port} was busy; using {server.port}", file=sys.stderr)
    print(json.dumps({"listening": server.url, "port": server.port, "token": server.token,
                      "base_url": server.base_url("{episode_id}"), "upstream": server.upstream.name,
                      "policy_version": str(getattr(server.upstream, "policy_version", "unknown"))}),
          flush=True)
    signal.signal(signal.SIGTERM, lambda *_: server._server and setattr(server._server, "should_exit", True))
    try:
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
