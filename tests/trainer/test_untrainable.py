"""Scripted and replayed traffic is never trained on: refused, counted, and said so."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from events.log import open_log
from tests.trainer.synthetic import make_group, write_groups
from trainer.config import TrainerConfig
from trainer.loop import Trainer

ROOT = Path(__file__).resolve().parents[2]


def _untrainable(gid: str, reason: str = "scripted"):
    g = make_group(gid, reward=100.0)
    return g.model_copy(update={"trainable": False, "untrainable_reason": reason, "samples": [
        s.model_copy(update={"trainable": False, "untrainable_reason": reason}) for s in g.samples]})


def test_untrainable_groups_are_refused_and_counted_in_the_next_step(tmp_path):
    cfg = TrainerConfig(log=f"sqlite:///{tmp_path}/log.db", checkpoint_dir=str(tmp_path / "ck"), batch_groups=2,
                        idle_exit_s=3.0)
    log = open_log(cfg.log)
    write_groups(log, [_untrainable("s1"), make_group("a"), _untrainable("s2", "replayed"), make_group("b")])
    trainer = Trainer(cfg)
    assert trainer.run(until_step=1) == 1
    trainer.close()
    (step,) = [r.event.payload for r in log.read("trainer") if r.event.type == "trainer.step"]
    assert step.samples == 8 and step.skipped_untrainable == 8 == step.dropped["untrainable"]
    assert step.group_ids == ["a", "b"]
    assert step.reward_mean < 1.0  # no reward-100 (untrainable) sample reached the batch
    assert trainer.refused == {"scripted": [1, 4], "replayed": [1, 4]}


def _demo_traffic(log_url: str, episodes: int = 4) -> None:
    """Real scripted traffic: the openai SDK through the proxy to the `demo` upstream, two turns an
    episode, then the episodes' ends and verdicts, and the real rewards + rollouts processors."""
    from openai import OpenAI

    import events
    from events.payloads import EpisodeFinished
    from processors.reducers.rewards import Rewards
    from processors.reducers.rollouts import Rollouts
    from processors.runtime import Runtime
    from producers.proxy import ProxyServer
    from tests.processors.synth import eval_result

    log = open_log(log_url)
    with ProxyServer(log_url, "demo", run_id="r") as proxy:
        for i in range(episodes):
            client = OpenAI(base_url=proxy.base_url(f"ep{i}"), api_key=proxy.token)
            messages = [{"role": "user", "content": "fix the bug"}]
            for _ in range(2):
                reply = client.chat.completions.create(model="demo", messages=messages, seed=i)
                messages += [{"role": "assistant", "content": reply.choices[0].message.content},
                             {"role": "user", "content": "ok"}]
            log.append("episodes", [events.new(EpisodeFinished(episode_id=f"ep{i}", instance_id="t__x-1",
                                                               sample_idx=i, reason="submitted", turns=2),
                                               producer="test", run_id="r")])
            log.append("evals", [eval_result("r", "t__x-1", i, i % 2 == 0, episode_id=f"ep{i}")])
    snapshots = log_url[len("sqlite:///"):] + ".snapshots"
    Runtime(log, [Rewards()], snapshot_dir=snapshots).run()
    Runtime(log, [Rollouts(group_size=2)], snapshot_dir=snapshots).run()


def test_consume_on_demo_traffic_trains_nothing_and_says_why(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    _demo_traffic(url)
    groups = [r.event.payload for r in open_log(url).read("rollouts")]
    assert len(groups) == 2 and all(not g.trainable and g.untrainable_reason == "scripted" for g in groups)
    assert all(len(g.samples) == 2 for g in groups)  # one trajectory per two-turn episode
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    train = subprocess.run([sys.executable, "-m", "trainer.consume", "--log", url, "--idle-exit", "2",
                            "--checkpoint-dir", str(tmp_path / "ck")], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=600)
    assert train.returncode == 4 and train.stdout == ""  # STALLED_EXIT, no trainer.step line
    assert "trained nothing: all 2 rollout groups (4 samples) were not trainable" in train.stderr
    assert "scripted: 2 groups / 4 samples" in train.stderr
    assert not any(r.event.type == "trainer.step" for r in open_log(url).read("trainer"))
