"""Acceptance, end to end: agents driven through the real proxy by the `demo` upstream solve
bundled tasks, and the log tells the whole story, linked by ids:
episode.started -> proxy.request/response -> agent.action ... -> episode.finished -> eval.result.
"""
from __future__ import annotations

import pytest

from events.log import open_log
from producers.agents import EpisodeContext, make_runner
from producers.datasets.bundled import demo_scripts, ensure_bundled_tasks
from producers.evaluator import Evaluator, record_eval
from producers.inference.demo import DemoUpstream
from producers.proxy.server import ProxyServer
from producers.sandbox.local import LocalSandboxFactory

RUN = "e2e-run"


@pytest.fixture(scope="module")
def world(tmp_path_factory, bundled_cache):
    root = tmp_path_factory.mktemp("e2e")
    tasks = ensure_bundled_tasks(bundled_cache)
    scripts = demo_scripts()
    log = open_log(f"sqlite:///{root / 'ledger.db'}")
    proxy = ProxyServer(log, DemoUpstream(scripts=scripts), run_id=RUN).start()
    yield tasks, scripts, log, proxy, LocalSandboxFactory(root=root / "sbx")
    proxy.stop()
    log.close()


def _seed(script, solve: bool) -> int:
    return next(s for s in range(1000) if script.picks_solve(s) == solve)


def _episode(world, runner: str, task, episode_id: str, solve: bool = True, **config):
    tasks, scripts, log, proxy, factory = world
    inst = task.instance
    ctx = EpisodeContext(log=log, run_id=RUN, episode_id=episode_id, instance=inst,
                         sandbox_factory=factory, base_url=proxy.base_url(episode_id),
                         api_key=proxy.token, model="demo",
                         seed=_seed(scripts[inst.instance_id], solve))
    out = make_runner(runner, **config).run(ctx)
    result = Evaluator(factory, timeout_s=300).evaluate(inst, out.patch, episode_id=episode_id)
    ev = record_eval(log, result, run_id=RUN, parent=out.finished_event_id)
    return out, result, ev


def _story(log, episode_id):
    def of(topic):
        return [r.event for r in log.read(topic) if getattr(r.event.payload, "episode_id", None) == episode_id]
    return of("episodes"), of("proxy"), of("actions"), of("evals")


@pytest.mark.parametrize("pick", [0, -1])
def test_bash_agent_solves_bundled_tasks_and_the_log_tells_the_story(world, pick):
    task = world[0][pick]
    ep = f"bash-{task.instance.instance_id}"
    out, result, eval_event = _episode(world, "bash", task, ep)
    assert out.reason == "submitted", out.error
    assert result.resolved, (result.status, result.reason, result.fail_to_pass, result.pass_to_pass)
    (started, finished), proxy, actions, evals = _story(world[2], ep)
    assert started.type == "episode.started" and finished.type == "episode.finished"
    requests = [e for e in proxy if e.type == "proxy.request"]
    responses = [e for e in proxy if e.type == "proxy.response"]
    assert len(requests) == len(responses) == out.steps >= 2
    assert all(r.payload.scripted for r in responses)
    # each action's parent is the model response that proposed it (the same turn)
    by_id = {r.id: r for r in responses}
    assert len(actions) == out.turns and all(a.parent in by_id for a in actions)
    assert [by_id[a.parent].payload.turn for a in actions] == [a.payload.step for a in actions]
    assert all(by_id[a.parent].parent == r.id for a in actions for r in requests
               if r.payload.request_id == by_id[a.parent].payload.request_id)
    assert started.payload.problem_statement == task.instance.problem_statement != ""
    assert actions[-1].payload.command == "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"
    assert finished.parent == started.id and finished.payload.patch == out.patch
    assert evals == [eval_event] and eval_event.parent == finished.id
    assert eval_event.payload.episode_id == ep and eval_event.run_id == RUN


def test_the_wrong_script_is_not_resolved(world):
    task = world[0][1]
    out, result, _ = _episode(world, "bash", task, f"wrong-{task.instance.instance_id}", solve=False)
    assert out.reason == "submitted" and out.patch.strip()
    assert not result.resolved and result.status == "ok"


@pytest.mark.parametrize("mode", ["text", "toolcall"])
def test_mini_swe_agent_completes_an_episode_through_the_proxy(world, mode):
    task = world[0][0]
    ep = f"mini-{mode}-{task.instance.instance_id}"
    out, result, _ = _episode(world, "mini-swe-agent", task, ep, mode=mode)
    assert out.reason == "submitted", out.error
    assert result.resolved, (result.status, result.reason)
    (started, finished), proxy, actions, _ = _story(world[2], ep)
    assert started.payload.agent == "mini-swe-agent"
    responses = {e.id: e for e in proxy if e.type == "proxy.response"}
    assert len(responses) == out.steps
    assert len(actions) == out.turns and finished.parent == started.id
    assert [responses[a.parent].payload.turn for a in actions] == [a.payload.step for a in actions]
