"""The workflow inducer (Agent Workflow Memory, seed 004): experiences → workflows.

A producer: it consumes `workflow.induction_requested` (emitted by the
experiences processor every N successes in a memory scope), reads the
requested `experience.recorded` events, and appends one `workflow.induced`.

Two induction strategies behind one function signature:
- `model`: asks a model (any OpenAI-compatible base URL, normally our proxy)
  to induce a reusable workflow as JSON; a reply that is not valid JSON is
  kept in the event's description, never dropped.
- `heuristic`: deterministic, no model: the steps are the command shapes
  (program + subcommand) shared by most of the experiences, in their usual
  order. Useful offline and as the demo's inducer.

The inducer's own progress is its consumer group's committed offsets, and the
`workflow.induced` id is derived from the request id, so a restarted inducer
never induces twice for the same request. Without `follow` it stops once its
consumer is caught up, not at the first empty poll: a Kafka member gets empty
polls while it joins its group.
"""
from __future__ import annotations

import json
import re
import shlex
import time
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Sequence

import events
from events.log import EventLog, LogUnavailable
from events.payloads import ExperienceRecorded, WorkflowInduced, WorkflowInductionRequested

__all__ = ["Inducer", "heuristic_induction", "model_induction", "InductionFn"]

InductionFn = Callable[[str, Sequence[ExperienceRecorded]], tuple[str, str, list[str]]]
"""(scope, experiences) -> (name, description, steps)."""

_PROMPT = """You maintain a memory of reusable workflows for a coding agent.
Below are {n} solved tasks from the scope `{scope}`, each with its problem and the
commands that solved it. Induce ONE reusable workflow that would help on similar
tasks: abstract away file names and values. Reply with JSON only:
{{"name": "...", "description": "...", "steps": ["...", "..."]}}

{examples}"""


def _shape(command: str) -> str:
    """The program and its first non-option argument, e.g. `python -m pytest`, `grep`."""
    try:
        words = shlex.split(command, comments=False)
    except ValueError:
        words = command.split()
    if not words:
        return ""
    program = words[0].rsplit("/", 1)[-1]
    if program in ("python", "python3") and len(words) > 2 and words[1] == "-m":
        return f"{program} -m {words[2]}"
    if program in ("git", "pip", "cargo", "npm") and len(words) > 1:
        return f"{program} {words[1]}"
    return program


def heuristic_induction(scope: str, experiences: Sequence[ExperienceRecorded]) -> tuple[str, str, list[str]]:
    counts: Counter[str] = Counter()
    positions: dict[str, list[float]] = {}
    for exp in experiences:
        cmds = [s.command for s in exp.steps if "COMPLETE_TASK_AND_SUBMIT" not in s.command]
        seen = set()
        for i, cmd in enumerate(cmds):
            shape = _shape(cmd)
            if shape and shape not in seen:
                seen.add(shape)
                counts[shape] += 1
                positions.setdefault(shape, []).append(i / max(len(cmds), 1))
    quorum = max(1, (len(experiences) + 1) // 2)
    common = [s for s, c in counts.items() if c >= quorum]
    common.sort(key=lambda s: (sum(positions[s]) / len(positions[s]), s))
    steps = [f"run `{s}` (used in {counts[s]}/{len(experiences)} solved tasks)" for s in common]
    steps.append("submit with `echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT` once the tests pass")
    name = f"{scope.rsplit('/', 1)[-1]}-fix-" + "-".join(s.split()[0] for s in common[:3]) if common else f"{scope}-fix"
    description = (f"Steps shared by {len(experiences)} solved tasks in {scope}: "
                   + ", ".join(common) if common else f"Solved tasks in {scope} shared no common command.")
    return name, description, steps


def model_induction(base_url: str, model: str, api_key: str = "none", timeout_s: float = 120.0) -> InductionFn:
    def induce(scope: str, experiences: Sequence[ExperienceRecorded]) -> tuple[str, str, list[str]]:
        from openai import OpenAI

        examples = "\n\n".join(
            f"## Task {i + 1}\nProblem: {e.problem[:1500]}\nCommands:\n"
            + "\n".join(f"- {s.command}" for s in e.steps[:30])
            for i, e in enumerate(experiences))
        client = OpenAI(base_url=base_url, api_key=api_key, timeout=timeout_s, max_retries=2)
        reply = client.chat.completions.create(
            model=model, temperature=0.0, max_tokens=800,
            messages=[{"role": "user", "content": _PROMPT.format(n=len(experiences), scope=scope,
                                                                  examples=examples)}])
        return parse_workflow(reply.choices[0].message.content or "", scope)

    return induce


def parse_workflow(text: str, scope: str) -> tuple[str, str, list[str]]:
    match = re.search(r"\{.*\}", text, re.S)
    try:
        data = json.loads(match.group(0)) if match else None
        steps = [str(s) for s in data["steps"]]
        return str(data["name"]), str(data.get("description", "")), steps
    except (TypeError, ValueError, KeyError):
        return f"{scope}-unparsed", f"model reply was not a workflow JSON: {text[:2000]}", []


@dataclass
class Inducer:
    """Consumer group `inducer`: requests in, workflows out."""

    log: EventLog
    induce: InductionFn = heuristic_induction
    group: str = "inducer"

    join_timeout_s: float = 120.0
    """Longest wait for the consumer to be caught up (its group joined) when not following."""

    def run(self, follow: bool = False, idle_s: float = 0.5) -> int:
        """Handle every pending request; with `follow`, keep waiting for new ones."""
        consumer = self.log.consumer(self.group, ["workflows"])
        try:
            return self.drain(consumer, follow=follow, idle_s=idle_s)
        finally:
            consumer.close()

    def drain(self, consumer, follow: bool = False, idle_s: float = 0.5) -> int:
        """`run` on a consumer the caller keeps (one group member across many drains)."""
        made = 0
        waiting_since = None
        while True:
            records = consumer.poll(max_records=100, timeout_s=idle_s)
            outputs = [self._induce(r.event) for r in records
                       if r.event.type == "workflow.induction_requested"]
            if outputs:
                consumer.transact({"workflows": outputs})
                made += len(outputs)
            elif records:
                consumer.commit()
            elif not follow:
                if consumer.caught_up():
                    return made
                waiting_since = waiting_since or time.monotonic()
                if time.monotonic() - waiting_since > self.join_timeout_s:
                    raise LogUnavailable(f"inducer: group {self.group!r} got no partitions of `workflows` "
                                         f"within {self.join_timeout_s:g} s")
            if records:
                waiting_since = None

    def _induce(self, request) -> events.Envelope:
        req: WorkflowInductionRequested = request.payload
        exps = self._experiences(set(req.experience_ids))
        name, description, steps = self.induce(req.scope, exps)
        payload = WorkflowInduced(scope=req.scope, name=name, description=description, steps=steps,
                                  source_episode_ids=[e.episode_id for e in exps], request_id=request.id)
        return events.new(payload, producer="inducer", run_id=request.run_id, parent=request.id,
                          id=events.derived_id("inducer", 1, request.id))

    def _experiences(self, ids: set[str]) -> list[ExperienceRecorded]:
        found = {rec.event.id: rec.event.payload for rec in self.log.read("experiences") if rec.event.id in ids}
        return [found[i] for i in sorted(found)]
