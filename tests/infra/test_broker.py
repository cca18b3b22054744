"""The dev broker answers the Kafka protocol and stops cleanly."""
from __future__ import annotations

import signal
import subprocess
import sys

from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from infra.broker import Broker, free_port, metadata_answers
from tests.conftest import REPO_ROOT


def test_broker_answers_metadata_and_stops():
    with Broker() as broker:
        assert metadata_answers(broker.host, broker.port)
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        try:
            admin.create_topics([NewTopic("probe", 2, 1)])
            assert "probe" in admin.list_topics()
        finally:
            admin.close()
    assert not broker.alive()
    assert not metadata_answers(broker.host, broker.port, timeout_s=0.2)


def test_kafka_bootstrap_fixture_answers(kafka_bootstrap):
    host, port = kafka_bootstrap.rsplit(":", 1)
    assert metadata_answers(host, int(port))


def test_cli_broker_stops_on_sigterm(subprocess_env):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "infra.broker", "--port", str(port)],
                            stderr=subprocess.PIPE, text=True, env=subprocess_env, cwd=REPO_ROOT)
    try:
        assert "broker ready" in proc.stderr.readline()
        assert metadata_answers("127.0.0.1", port)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert "broker stopped" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not metadata_answers("127.0.0.1", port, timeout_s=0.2)


def test_topics_cli_creates_the_catalog(kafka_bootstrap, subprocess_env):
    from events.topics import CATALOG

    url = f"kafka://{kafka_bootstrap}?prefix=cli-topics."
    done = subprocess.run([sys.executable, "-m", "infra.topics", "--log", url], cwd=REPO_ROOT,
                          env=subprocess_env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    listed = dict(line.split("\t") for line in done.stdout.splitlines())
    assert {k: int(v) for k, v in listed.items()} == {n: t.partitions for n, t in CATALOG.items()}
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        assert {f"cli-topics.{n}" for n in CATALOG} <= set(admin.list_topics())
    finally:
        admin.close()


def test_topics_cli_reports_an_unreachable_cluster(subprocess_env):
    url = f"kafka://127.0.0.1:{free_port()}?bootstrap_timeout_ms=1000"
    done = subprocess.run([sys.executable, "-m", "infra.topics", "--log", url], cwd=REPO_ROOT,
                          env=subprocess_env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "cannot open Kafka log at 127.0.0.1" in done.stderr
