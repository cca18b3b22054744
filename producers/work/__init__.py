"""Distributed work: the `work` topic, what the log says about it, and `ledger worker`.

- `index.WorkIndex` + `follower.LogFollower`: runs, scheduled items, attempts and
  results, folded from the log and kept current.
- `decide.decide`: what a scheduled item still needs (run, evaluate, nothing),
  closing attempts whose process died as `interrupted`.
- `queue`: a worker's membership in a run's consumer group on `work`.
- `slots.Slots`: the worker's episode processes.
- `worker.Worker`: `ledger worker`.

The coordinator side is `producers/orchestrator/coordinator.py`; the protocol,
its guarantees and the network assumptions are in docs/distributed.md.
"""
