"""The real mini-swe-agent package, driven through a scripted OpenAI-compatible server."""
from __future__ import annotations

import pytest

from events.log import open_log
from producers.agents import AgentLimits, EpisodeContext, make_runner
from producers.sandbox.local import LocalSandboxFactory

from .scripted_server import ScriptedServer
from .toy_repo import make_toy_repo

FIX = "Fix it.\n```bash\nsed -i 's/return a + b$/return a - b/' calc.py\n```"
SUBMIT = "```bash\necho COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT\n```"


@pytest.fixture
def setup(tmp_path):
    toy = make_toy_repo(tmp_path / "repo")
    log = open_log(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield toy, log, LocalSandboxFactory(root=tmp_path / "sbx")
    log.close()


def _ctx(server, toy, log, factory, **kw):
    return EpisodeContext(log=log, run_id="run-m", episode_id="ep-m", instance=toy,
                          sandbox_factory=factory, base_url=server.base_url("ep-m"),
                          api_key="tok", model="scripted", seed=3, **kw)


def test_text_mode_completes_an_episode(setup, tmp_path):
    toy, log, factory = setup
    with ScriptedServer([FIX, "no action here", SUBMIT]) as server:
        out = make_runner("mini-swe-agent", trajectory_dir=str(tmp_path / "traj")).run(
            _ctx(server, toy, log, factory, workflow_memory="W: grep then sed"))
    assert out.reason == "submitted" and out.steps == 3 and out.turns == 2, out.error
    assert "+    return a - b" in out.patch
    started, finished = [r.event for r in log.read("episodes")]
    actions = [r.event for r in log.read("actions")]
    assert started.payload.agent == "mini-swe-agent" and finished.payload.reason == "submitted"
    assert [a.payload.command for a in actions] == [
        "sed -i 's/return a + b$/return a - b/' calc.py", "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"]
    assert [a.payload.step for a in actions] == [0, 2]
    assert all(a.parent == started.id for a in actions) and finished.parent == started.id
    first = server.requests[0]
    assert first["seed"] == 3 and server.paths[0] == "/e/ep-m/v1/chat/completions"
    assert toy.instance_id in str(first["messages"]) and "W: grep then sed" in str(first["messages"])
    assert server.auth[0] == "Bearer tok"
    assert (tmp_path / "traj" / "ep-m.traj.json").is_file()


def test_toolcall_mode_and_max_turns(setup):
    toy, log, factory = setup
    with ScriptedServer([{"tool_command": "ls"}] * 4) as server:
        out = make_runner("mini-swe-agent", mode="toolcall").run(
            _ctx(server, toy, log, factory, limits=AgentLimits(max_turns=2, max_steps=10)))
    assert out.reason == "max_turns" and out.turns == 2
    assert server.requests[0]["tools"][0]["function"]["name"] == "bash"


def test_max_steps(setup):
    toy, log, factory = setup
    with ScriptedServer(["```bash\nls\n```"] * 5) as server:
        out = make_runner("mini-swe-agent").run(
            _ctx(server, toy, log, factory, limits=AgentLimits(max_steps=2, max_turns=10)))
    assert out.reason == "max_steps" and out.steps == 2 and len(server.requests) == 2


def test_unrecorded_call_marks_the_episode_incomplete(setup):
    toy, log, factory = setup
    with ScriptedServer([{"status": 503, "message": "log unavailable"}]) as server:
        out = make_runner("mini-swe-agent").run(_ctx(server, toy, log, factory))
    assert out.reason == "error" and out.incomplete, out.error
    assert [r.event for r in log.read("episodes")][-1].payload.incomplete
