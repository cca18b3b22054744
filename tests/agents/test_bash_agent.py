"""The built-in bash agent against a scripted OpenAI-compatible server, in a real sandbox."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from events.log import open_log
from producers.agents import AgentLimits, EpisodeContext, Sampling, make_runner
from producers.sandbox.local import LocalSandboxFactory

from .scripted_server import ScriptedServer
from .toy_repo import make_toy_repo

FIX = "I will fix sub.\n```bash\nsed -i 's/return a + b$/return a - b/' calc.py && sed -n 5,6p calc.py\n```"
SUBMIT = "Done.\n```bash\necho COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT\n```"


@pytest.fixture
def setup(tmp_path):
    toy = make_toy_repo(tmp_path / "repo")
    log = open_log(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield toy, log, LocalSandboxFactory(root=tmp_path / "sbx")
    log.close()


def _ctx(server, toy, log, factory, episode="ep-1", **kw):
    return EpisodeContext(log=log, run_id="run-1", episode_id=episode, instance=toy,
                          sandbox_factory=factory, base_url=server.base_url(episode),
                          api_key="tok", model="scripted-model", seed=7,
                          sampling=Sampling(temperature=0.5, top_p=0.9, max_tokens=256), **kw)


def _events(log, topic):
    return [r.event for r in log.read(topic)]


@pytest.fixture
def any_log_setup(tmp_path, log_url):
    toy = make_toy_repo(tmp_path / "repo")
    log = open_log(log_url)
    yield toy, log, LocalSandboxFactory(root=tmp_path / "sbx")
    log.close()


def test_solves_and_tells_the_story(any_log_setup):
    """On both backends (SQLite, Kafka protocol via the dev broker)."""
    toy, log, factory = any_log_setup
    with ScriptedServer([FIX, SUBMIT]) as server:
        out = make_runner("bash").run(_ctx(server, toy, log, factory, workflow_memory="W1: read, edit, test"))
    assert out.reason == "submitted" and out.steps == 2 and out.turns == 2
    assert "-    return a + b\n+    return a - b" in out.patch
    started, finished = _events(log, "episodes")
    actions = _events(log, "actions")
    assert started.type == "episode.started" and finished.type == "episode.finished"
    assert started.payload.agent == "bash" and started.payload.seed == 7
    assert [a.payload.step for a in actions] == [0, 1]
    assert all(a.parent == started.id for a in actions) and finished.parent == started.id
    assert finished.id == out.finished_event_id and finished.payload.patch == out.patch
    assert actions[0].payload.exit_code == 0 and "return a - b" in actions[0].payload.observation.text
    first = server.requests[0]
    assert first["seed"] == 7 and first["temperature"] == 0.5 and first["max_tokens"] == 256
    system = first["messages"][0]["content"]
    assert toy.instance_id in system and toy.problem_statement in system and "W1: read" in system
    assert server.paths[0] == "/e/ep-1/v1/chat/completions" and server.auth[0] == "Bearer tok"
    assert "<returncode>0</returncode>" in server.requests[1]["messages"][-1]["content"]


def test_format_errors_are_corrected_and_count_as_steps(setup, tmp_path):
    toy, log, factory = setup
    two = "```bash\nls\n```\n```bash\npwd\n```"
    with ScriptedServer(["no block here", two, SUBMIT]) as server:
        out = make_runner("bash", trajectory_dir=str(tmp_path / "traj")).run(_ctx(server, toy, log, factory))
    saved = json.loads((tmp_path / "traj" / "ep-1.traj.json").read_text())
    assert saved["status"] == "submitted" and saved["messages"][2]["content"] == "no block here"
    assert out.reason == "submitted" and out.steps == 3 and out.turns == 1
    assert "EXACTLY ONE" in server.requests[1]["messages"][-1]["content"]
    assert "contained 2" in server.requests[2]["messages"][-1]["content"]
    raw = [m["content"] for m in out.messages if m["role"] == "assistant"]
    assert raw[:2] == ["no block here", two]
    assert out.patch == ""


def test_max_steps(setup):
    toy, log, factory = setup
    with ScriptedServer(["```bash\nls\n```"] * 5) as server:
        out = make_runner("bash").run(_ctx(server, toy, log, factory,
                                           limits=AgentLimits(max_steps=3, max_turns=10)))
    assert out.reason == "max_steps" and out.steps == 3 and len(server.requests) == 3


def test_max_turns(setup):
    toy, log, factory = setup
    with ScriptedServer(["```bash\nls\n```"] * 5) as server:
        out = make_runner("bash").run(_ctx(server, toy, log, factory,
                                           limits=AgentLimits(max_steps=10, max_turns=2)))
    assert out.reason == "max_turns" and out.turns == 2 and len(_events(log, "actions")) == 2


def test_execution_timeout_kills_the_command(setup):
    toy, log, factory = setup
    with ScriptedServer(["```bash\nsleep 30\n```", SUBMIT]) as server:
        out = make_runner("bash").run(_ctx(server, toy, log, factory,
                                           limits=AgentLimits(execution_timeout=1)))
    first = _events(log, "actions")[0].payload
    assert first.timed_out and first.exit_code is None and out.reason == "submitted"
    assert "timed out" in server.requests[1]["messages"][-1]["content"]


def test_total_timeout(setup):
    toy, log, factory = setup
    with ScriptedServer(["```bash\nsleep 30\n```"] * 3) as server:
        out = make_runner("bash").run(_ctx(server, toy, log, factory,
                                           limits=AgentLimits(swe_agent_timeout=2)))
    assert out.reason == "timeout" and "swe_agent_timeout" in out.error


def test_unrecorded_model_call_marks_the_episode_incomplete(setup):
    toy, log, factory = setup
    with ScriptedServer([FIX, {"status": 503, "message": "log unavailable"}]) as server:
        out = make_runner("bash").run(_ctx(server, toy, log, factory))
    finished = _events(log, "episodes")[-1].payload
    assert out.reason == "error" and finished.incomplete and "503" in finished.error
    assert "return a - b" in finished.patch


def test_upstream_error_ends_the_episode_with_a_reason(setup):
    toy, log, factory = setup
    with ScriptedServer([{"status": 502, "message": "upstream down"}]) as server:
        out = make_runner("bash").run(_ctx(server, toy, log, factory))
    assert out.reason == "error" and not out.incomplete and "upstream down" in out.error


def test_unknown_runner_lists_the_known_ones():
    with pytest.raises(ValueError, match="known: bash, mini-swe-agent, swe-agent"):
        make_runner("nope")


def test_a_sandbox_that_fails_mid_episode_ends_it_with_a_reason(setup):
    toy, log, factory = setup

    class ClosingAfterCreate:
        """A real factory whose sandboxes are already closed (a sandbox lost mid-episode)."""

        def create(self, repo, base_commit):
            sandbox = factory.create(repo, base_commit)
            sandbox.close()
            return sandbox

    with ScriptedServer(["```bash\nls\n```"]) as server:
        out = make_runner("bash").run(_ctx(server, toy, log, ClosingAfterCreate()))
    assert out.reason == "error" and "sandbox" in out.error and out.infra_cause == "sandbox"
    assert [e.type for e in _events(log, "episodes")] == ["episode.started", "episode.finished"]


def test_a_repo_that_cannot_be_checked_out_is_an_error_result(setup, tmp_path):
    toy, log, factory = setup
    broken = replace(toy, repo_path=tmp_path / "nowhere")
    with ScriptedServer([]) as server:
        out = make_runner("bash").run(_ctx(server, broken, log, factory))
    assert out.reason == "error" and "not a git repository" in out.error and server.requests == []
    assert out.infra_cause == "repository missing"
    started, finished = (e.payload for e in _events(log, "episodes"))
    assert "sandbox not created" in started.sandbox.note and finished.infra_cause == "repository missing"
