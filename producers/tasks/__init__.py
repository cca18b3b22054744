"""Autonomous ephemeral coding tasks (seed 003): task.yaml → phases → gates → branch + PR body."""
