"""The trainer: `rollout.group` events -> verl advantages and PPO loss -> policy updates."""
