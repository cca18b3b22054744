"""The SWE-agent adapter (the recipe's `sweagent run` subprocess).

`SWEAgentConfigBuilder` writes a per-episode config pointing SWE-agent's model
at the proxy, `AgentConfigValidator` checks it with clear messages, and
`SweAgent` runs `sweagent run --config ...` under a timeout and turns its
trajectory into events.
"""
from .config_builder import SWEAgentConfigBuilder, unique_instance_id
from .config_validator import AgentConfigValidator, ConfigValidationError
from .patch_extractor import PatchExtractor
from .settings import SweAgentSettings

__all__ = ["AgentConfigValidator", "ConfigValidationError", "PatchExtractor",
           "SWEAgentConfigBuilder", "SweAgentSettings", "unique_instance_id"]
