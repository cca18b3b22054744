"""Agent runners: each turns one (instance, sample) into an episode of events.

`make_runner(name, **config)` builds one by name (`bash`, `mini-swe-agent`,
`swe-agent`); every runner writes `episode.started`, one `agent.action` per
tool call and `episode.finished`, and talks to the model only through the proxy.
"""
from .base import AgentLimits, AgentRunner, EpisodeContext, EpisodeOutcome, Sampling
from .registry import RUNNERS, make_runner

__all__ = ["AgentLimits", "AgentRunner", "EpisodeContext", "EpisodeOutcome", "RUNNERS",
           "Sampling", "make_runner"]
