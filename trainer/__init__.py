"""GRPO from rollout groups (`python -m trainer.consume`)."""
