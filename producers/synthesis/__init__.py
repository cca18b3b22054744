"""The task factory: SWE-bench-format tasks synthesized from real projects, validated by
their own test suites (`ledger tasks synth CONFIG`).

    config (configs/tasks/*.yaml) ─▶ per project: the pinned sdist (cached by sha256)
      ─▶ a git repository with a fixed author/date ─▶ its environment (producers.environments)
      ─▶ the suite at base, twice (JUnit; flaky tests dropped) + coverage contexts
      ─▶ SWE-smith's procedural modifiers on the covered functions, in seeded order
      ─▶ each candidate validated in a worker's sandbox (no network, limits, timeout)
      ─▶ task.synthesized | task.rejected events ─▶ dataset + manifest + mirrors

Modules: `config` (the YAML), `sdist`, `repo`, `baseline`, `entities`, `candidates`,
`validate`, `statement`, `worker` (the pool's jobs), `state` (events -> progress),
`dataset` (the files), `run` (the driver), `cli`. Details: docs/tasks-synthesis.md.
"""
from .config import ProjectConfig, SynthConfig, SynthConfigError, load_synth_config
from .run import Synthesis, SynthesisBusy, SynthesisMismatch, SynthesisResult

__all__ = ["ProjectConfig", "SynthConfig", "SynthConfigError", "Synthesis", "SynthesisBusy",
           "SynthesisMismatch", "SynthesisResult", "load_synth_config"]
