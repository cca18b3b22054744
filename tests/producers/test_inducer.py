"""The workflow inducer: requests + experiences in, one workflow.induced per request,
never twice, with a heuristic and a model-backed strategy (a real HTTP server)."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import events
from events.log import open_log
from events.payloads import ExperienceRecorded, ExperienceStep, WorkflowInductionRequested
from producers.inducer import Inducer, heuristic_induction, model_induction


def _experience(i: int, scope: str = "ledger-bundled/textkit") -> events.Envelope:
    steps = [ExperienceStep(command=f"grep -n slugify src/mod{i}.py", exit_code=0),
             ExperienceStep(command=f"sed -i 's/a/b/' src/mod{i}.py", exit_code=0),
             ExperienceStep(command="python -m pytest -q tests", exit_code=0),
             ExperienceStep(command="echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT", exit_code=0)]
    return events.new(ExperienceRecorded(scope=scope, episode_id=f"ep{i}", instance_id=f"t{i}",
                                         problem=f"bug {i}", steps=steps, patch="diff"),
                      producer="test", run_id="r")


def _seed(log, n: int = 3):
    exps = [_experience(i) for i in range(n)]
    log.append("experiences", exps)
    req = events.new(WorkflowInductionRequested(scope="ledger-bundled/textkit",
                                                experience_ids=[e.id for e in exps], successes=n),
                     producer="test", run_id="r")
    log.append("workflows", [req])
    return exps, req


def _induced(log):
    return [r.event for r in log.read("workflows") if r.event.type == "workflow.induced"]


def test_heuristic_inducer_writes_one_workflow_per_request(sqlite_url):
    log = open_log(sqlite_url)
    exps, req = _seed(log)
    assert Inducer(log).run() == 1
    assert Inducer(log).run() == 0  # committed: a restart does not induce again
    (wf,) = _induced(log)
    assert wf.parent == req.id and wf.payload.request_id == req.id
    assert set(wf.payload.source_episode_ids) == {e.payload.episode_id for e in exps}
    shapes = " ".join(wf.payload.steps)
    assert "grep" in shapes and "sed" in shapes and "python -m pytest" in shapes
    assert shapes.index("grep") < shapes.index("sed") < shapes.index("python -m pytest")


def test_an_inducer_joining_its_kafka_group_does_not_take_the_join_for_an_empty_topic(kafka_url):
    """A fresh Kafka group member gets empty polls for seconds while the group forms; a
    one-shot inducer (as `ledger run` drives it) must wait until it is caught up."""
    log = open_log(kafka_url)
    try:
        _seed(log)
        assert Inducer(log).run(follow=False, idle_s=0.05) == 1
        assert Inducer(log).run(follow=False, idle_s=0.05) == 0  # caught up: nothing left, and it stops
        assert len(_induced(log)) == 1
    finally:
        log.close()


def test_same_request_in_a_fresh_group_gives_the_same_event_id(sqlite_url):
    log = open_log(sqlite_url)
    _seed(log)
    Inducer(log).run()
    Inducer(log, group="inducer-replay").run()
    assert len(_induced(log)) == 1  # derived id: the replayed induction is a no-op append


def test_heuristic_keeps_only_shared_commands():
    exps = [_experience(0).payload, _experience(1).payload]
    odd = ExperienceRecorded(scope="s", episode_id="x", instance_id="x",
                             steps=[ExperienceStep(command="make lint")])
    name, _, steps = heuristic_induction("s", [*exps, odd])
    assert not any("make" in s for s in steps)
    assert steps[-1].startswith("submit")


class _ModelServer(BaseHTTPRequestHandler):
    reply = ""
    prompts: list[str] = []

    def do_POST(self):  # noqa: N802 (http.server API)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).prompts.append(body["messages"][0]["content"])
        out = json.dumps({"id": "c1", "object": "chat.completion", "created": 0, "model": body["model"],
                          "choices": [{"index": 0, "finish_reason": "stop",
                                       "message": {"role": "assistant", "content": type(self).reply}}],
                          "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


@pytest.fixture
def model_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ModelServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()


def test_model_inducer_parses_json_and_keeps_bad_replies(sqlite_url, model_server):
    log = open_log(sqlite_url)
    _seed(log)
    _ModelServer.reply = 'Sure! {"name": "fix-slug", "description": "d", "steps": ["find", "fix", "test"]}'
    Inducer(log, induce=model_induction(model_server, "m")).run()
    (wf,) = _induced(log)
    assert (wf.payload.name, wf.payload.steps) == ("fix-slug", ["find", "fix", "test"])
    assert "bug 0" in _ModelServer.prompts[-1] and "python -m pytest" in _ModelServer.prompts[-1]

    _ModelServer.reply = "I cannot answer in JSON"
    _seed(log)
    Inducer(log, induce=model_induction(model_server, "m")).run()
    bad = [w for w in _induced(log) if w.payload.name.endswith("-unparsed")]
    assert len(bad) == 1 and "I cannot answer in JSON" in bad[0].payload.description
