"""The SWE-agent adapter: config builder and validator in full, the subprocess path against a
stand-in `sweagent` executable that speaks OpenAI to a scripted server."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from events.log import open_log
from producers.agents import AgentLimits, EpisodeContext, Sampling, make_runner
from producers.agents.swe_agent import (
    AgentConfigValidator,
    ConfigValidationError,
    PatchExtractor,
    SWEAgentConfigBuilder,
    SweAgentSettings,
    unique_instance_id,
)
from producers.agents.swe_agent.runner import exit_reason
from producers.sandbox.local import LocalSandboxFactory

from .scripted_server import ScriptedServer
from .toy_repo import make_toy_repo

STANDIN = (sys.executable, str(Path(__file__).with_name("sweagent_standin.py")))
FIX = "```bash\nsed -i 's/return a + b$/return a - b/' calc.py\n```"
SUBMIT = "```bash\necho COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT\n```"


@pytest.fixture
def toy(tmp_path):
    return make_toy_repo(tmp_path / "repo")


def _ctx(toy, log=None, base_url="http://127.0.0.1:9/e/ep-s/v1", episode="ep-s", factory=None, **kw):
    return EpisodeContext(log=log, run_id="run-s", episode_id=episode, instance=toy,
                          sandbox_factory=factory, base_url=base_url, api_key="secret-token",
                          model="demo", seed=11, sampling=Sampling(temperature=0.2, top_p=0.8,
                                                                   max_tokens=128), **kw)


def test_builder_points_the_model_at_the_proxy(toy, tmp_path):
    ctx = _ctx(toy, limits=AgentLimits(max_steps=7, execution_timeout=42), workflow_memory="W1")
    cfg = SWEAgentConfigBuilder().build(ctx, toy.repo_path, toy.base_commit, tmp_path / "out")
    m = cfg["agent"]["model"]
    assert m["name"] == "openai/demo" and m["api_base"] == "http://127.0.0.1:9/e/ep-s/v1"
    assert m["api_key"] == "$LEDGER_PROXY_TOKEN" and m["per_instance_call_limit"] == 7
    assert m["completion_kwargs"] == {"seed": 11, "max_tokens": 128} and m["top_p"] == 0.8
    assert cfg["agent"]["tools"] == {"execution_timeout": 42, "total_execution_timeout": 1800}
    assert cfg["env"] == {"deployment": {"type": "local"}, "repo": {
        "type": "local", "path": str(toy.repo_path), "base_commit": toy.base_commit}}
    ps = cfg["problem_statement"]
    assert ps["id"] == f"{toy.instance_id}.ep-s" and toy.instance_id in ps["text"] and "W1" in ps["text"]
    path = SWEAgentConfigBuilder().write(cfg, tmp_path / "c.yaml")
    assert yaml.safe_load(path.read_text()) == cfg and "secret-token" not in path.read_text()
    assert AgentConfigValidator().validate(cfg) is cfg


def test_instance_ids_never_clash_between_episodes(toy, tmp_path):
    b = SWEAgentConfigBuilder()
    ids = {b.build(_ctx(toy, episode=f"ep-{i}"), toy.repo_path, "HEAD", tmp_path)["problem_statement"]["id"]
           for i in range(5)}
    assert len(ids) == 5 and unique_instance_id("a", "e") == "a.e"


def test_docker_deployment_settings(toy, tmp_path):
    s = SweAgentSettings(deployment_type="docker", docker_image="img:1", docker_memory_limit="2g")
    cfg = SWEAgentConfigBuilder(s).build(_ctx(toy), toy.repo_path, "HEAD", tmp_path)
    assert cfg["env"]["deployment"] == {"type": "docker", "image": "img:1", "docker_args": ["--memory=2g"],
                                        "startup_timeout": 180.0, "remove_container": True}


def test_validator_lists_every_problem(tmp_path):
    bad = {"agent": {"model": {"api_base": "localhost:8080", "per_instance_call_limit": 0,
                               "temperature": 3, "top_p": 0}, "tools": {"execution_timeout": "x"}},
           "env": {"deployment": {"type": "docker"}, "repo": {"path": str(tmp_path)}},
           "problem_statement": {"text": "t", "id": "a/b"}}
    with pytest.raises(ConfigValidationError) as info:
        AgentConfigValidator().validate(bad)
    msg = str(info.value)
    for expected in ["agent.model.name: missing", "output_dir: missing",
                     "agent.model.api_base: must be an http(s) URL, got 'localhost:8080'",
                     "agent.model.per_instance_call_limit: must be >= 1, got 0",
                     "agent.model.temperature: must be <= 2, got 3", "agent.model.top_p: must be > 0",
                     "agent.tools.execution_timeout: expected a number, got 'x'",
                     "env.deployment.image: missing", "env.repo.path: not a git repository",
                     "problem_statement.id: must not contain '/'"]:
        assert expected in msg, expected
    assert len(info.value.problems) == 10
    assert AgentConfigValidator().problems([]) == ["config: expected a mapping, got list"]
    with pytest.raises(ConfigValidationError, match="env.deployment.type: must be 'local' or 'docker'"):
        AgentConfigValidator().validate({**bad, "env": {"deployment": {"type": "k8s"}}})


def test_exit_statuses():
    assert [exit_reason(s) for s in ["submitted", "submitted (exit_cost)", "exit_cost", "exit_format"]] == [
        "submitted", "max_steps", "max_steps", "error"]


def test_patch_extractor_strategies(tmp_path):
    d = tmp_path / "i"
    d.mkdir()
    ex = PatchExtractor(d, "i", git_diff=lambda: "from git")
    assert (ex.extract().source, ex.extract().patch) == ("git_diff", "from git")
    (d / "i.traj").write_text('{"info": {"submission": "from traj"}}')
    assert ex.extract().source == "trajectory"
    (d / "i.patch").write_text("from patch file")
    assert ex.extract().source == "patch_file"
    (d / "i.pred").write_text('{"model_patch": "from pred"}')
    assert ex.extract().patch == "from pred"


@pytest.fixture
def env(tmp_path, toy):
    log = open_log(f"sqlite:///{tmp_path / 'l.db'}")
    yield toy, log, LocalSandboxFactory(root=tmp_path / "sbx")
    log.close()


def test_subprocess_episode_against_the_standin(env):
    toy, log, factory = env
    with ScriptedServer([FIX, SUBMIT]) as server:
        runner = make_runner("swe-agent", executable=STANDIN)
        out = runner.run(_ctx(toy, log, server.base_url("ep-s"), factory=factory))
    assert out.reason == "submitted" and out.steps == 2 and out.turns == 2, out.error
    assert "+    return a - b" in out.patch
    started, finished = [r.event for r in log.read("episodes")]
    actions = [r.event for r in log.read("actions")]
    assert started.payload.agent == "swe-agent" and "SWE-agent" in started.payload.sandbox.note
    assert not started.payload.sandbox.network_isolated
    assert [a.payload.exit_code for a in actions] == [0, 0] and actions[0].parent == started.id
    assert server.auth[0] == "Bearer secret-token" and server.requests[0]["seed"] == 11
    assert server.paths[0] == "/e/ep-s/v1/chat/completions"


def test_subprocess_timeout_kills_it(env):
    toy, log, factory = env
    out = make_runner("swe-agent", executable=STANDIN, extra_env={"STANDIN_SLEEP": "60"}).run(
        _ctx(toy, log, factory=factory, limits=AgentLimits(swe_agent_timeout=2)))
    assert out.reason == "timeout" and "killed" in out.error


def test_missing_executable_is_an_error_result(env):
    toy, log, factory = env
    out = make_runner("swe-agent", executable=("/nonexistent/sweagent",)).run(_ctx(toy, log, factory=factory))
    assert out.reason == "error" and "cannot start /nonexistent/sweagent" in out.error
    assert [r.event.type for r in log.read("episodes")] == ["episode.started", "episode.finished"]


def test_actions_link_to_the_model_responses_that_proposed_them(env):
    """Through the real proxy (the scripted server as its `openai:` upstream): SWE-agent keeps no
    ids of its calls, so each trajectory step is matched to its response by text."""
    from producers.proxy.server import ProxyServer

    toy, log, factory = env
    with ScriptedServer([FIX, "no block here", SUBMIT]) as server:
        upstream = f"openai:{server.base_url('upstream')}"
        with ProxyServer(log, upstream, run_id="r") as proxy:
            runner = make_runner("swe-agent", executable=STANDIN)
            ctx = _ctx(toy, log, proxy.base_url("ep-s"), factory=factory)
            ctx.api_key = proxy.token
            out = runner.run(ctx)
    assert out.reason == "submitted", out.error
    responses = {r.event.id: r.event for r in log.read("proxy") if r.event.type == "proxy.response"}
    actions = [r.event for r in log.read("actions")]
    assert len(responses) == 3 and len(actions) == 2
    assert [responses[a.parent].payload.text for a in actions] == [FIX, SUBMIT]
    assert [responses[a.parent].payload.turn for a in actions] == [0, 2]
