"""The orchestrator: one config-driven entry point that plans, runs, evaluates,
scores and resumes a run through the log (seed 002, DESIGN.md §5)."""
