"""Sandboxes: where agent commands and evaluations run (local, docker)."""
