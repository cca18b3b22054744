"""Typed payloads of every event in the catalog (DESIGN.md §3)."""
from .actions import AgentAction
from .alerts import AlertRaised, AlertResolved
from .base import Payload
from .deadletter import DeadLetter
from .episodes import EpisodeFinished, EpisodeStarted, FinishReason, SandboxInfo
from .evals import INFRA, EvalResult, EvalStatus, Resolution, TestStatus
from .experiences import ExperienceRecorded, ExperienceStep
from .policy import BASE_POLICY, UNKNOWN_POLICY, PolicyVersion, oldest
from .proxy import PromptDelta, ProxyError, ProxyRequest, ProxyResponse, StreamEnd
from .rewards import RewardAssigned
from .rollouts import RolloutGroup, RolloutSample, SampledSpan
from .runs import DatasetManifest, RunFinished, RunStarted
from .scores import ScoreUpdated
from .tasks import GateResult, Phase, TaskFinished, TaskPhase
from .trainer import DropReason, PolicyUpdated, TrainerDropped, TrainerStalled, TrainerStep
from .workflows import WorkflowEvicted, WorkflowInduced, WorkflowInductionRequested

__all__ = [
    "INFRA", "Resolution", "AgentAction", "AlertRaised", "AlertResolved", "BASE_POLICY", "DatasetManifest",
    "DeadLetter", "DropReason",
    "EpisodeFinished", "EpisodeStarted", "EvalResult", "EvalStatus", "ExperienceRecorded",
    "ExperienceStep", "FinishReason", "GateResult", "Payload", "Phase", "PolicyUpdated", "PolicyVersion",
    "PromptDelta", "ProxyError", "ProxyRequest", "ProxyResponse", "RewardAssigned",
    "RolloutGroup", "RolloutSample", "SampledSpan", "RunFinished", "RunStarted", "SandboxInfo",
    "ScoreUpdated", "StreamEnd", "TaskFinished", "TaskPhase", "TestStatus", "TrainerDropped", "TrainerStalled",
    "TrainerStep", "UNKNOWN_POLICY", "oldest",
    "WorkflowEvicted", "WorkflowInduced", "WorkflowInductionRequested",
]
