"""Typed payloads of every event in the catalog (DESIGN.md §3)."""
from .actions import AgentAction
from .alerts import AlertRaised, AlertResolved
from .base import Payload
from .deadletter import DeadLetter
from .episodes import EpisodeFinished, EpisodeStarted, FinishReason, SandboxInfo
from .evals import INFRA, EvalResult, EvalStatus, Resolution, TestStatus
from .experiences import ExperienceRecorded, ExperienceStep
from .proxy import PromptDelta, ProxyError, ProxyRequest, ProxyResponse, StreamEnd
from .rewards import RewardAssigned
from .rollouts import RolloutGroup, RolloutSample, SampledSpan
from .runs import DatasetManifest, RunFinished, RunStarted
from .scores import ScoreUpdated
from .tasks import GateResult, Phase, TaskFinished, TaskPhase
from .trainer import PolicyUpdated, TrainerStep
from .workflows import WorkflowEvicted, WorkflowInduced, WorkflowInductionRequested

__all__ = [
    "INFRA", "Resolution", "AgentAction", "AlertRaised", "AlertResolved", "DatasetManifest", "DeadLetter",
    "EpisodeFinished", "EpisodeStarted", "EvalResult", "EvalStatus", "ExperienceRecorded",
    "ExperienceStep", "FinishReason", "GateResult", "Payload", "Phase", "PolicyUpdated",
    "PromptDelta", "ProxyError", "ProxyRequest", "ProxyResponse", "RewardAssigned",
    "RolloutGroup", "RolloutSample", "SampledSpan", "RunFinished", "RunStarted", "SandboxInfo",
    "ScoreUpdated", "StreamEnd", "TaskFinished", "TaskPhase", "TestStatus", "TrainerStep",
    "WorkflowEvicted", "WorkflowInduced", "WorkflowInductionRequested",
]
