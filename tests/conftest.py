"""Fixtures shared by every test area: log URLs for each backend and a Kafka broker.

- `kafka_bootstrap` (session): `host:port` of a Kafka-protocol broker:
  $LEDGER_KAFKA_BOOTSTRAP if set; else Apache Kafka from testcontainers when a
  Docker engine answers; else a Tansu broker started once for the session.
- `sqlite_url`: a fresh `sqlite:///<tmp>/ledger.db`.
- `kafka_url`: a fresh, empty Kafka log URL (unique topic prefix per test).
- `log_url`: parametrised over ["sqlite", "kafka"]: a fresh, empty log URL.
- `subprocess_env`: os.environ with this checkout first on PYTHONPATH, for tests
  that run `python -m ...` / `main.py` as real subprocesses.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Iterator

import pytest

__all__ = ["KAFKA_TEST_OPTS", "REPO_ROOT", "kafka_log_url"]

REPO_ROOT = Path(__file__).resolve().parent.parent

KAFKA_TEST_OPTS = "session_timeout_ms=6000&heartbeat_interval_ms=500&max_poll_interval_ms=6000"
"""Consumer-group timeouts for tests: a fresh group joins in ~3 s instead of ~20 s."""


def kafka_log_url(bootstrap: str, prefix: str | None = None) -> str:
    """A Kafka log URL on `bootstrap` whose topics no other test shares."""
    prefix = prefix or f"t{uuid.uuid4().hex}."
    return f"kafka://{bootstrap}?prefix={prefix}&{KAFKA_TEST_OPTS}"


def _docker_engine_answers() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=15).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _kafka_container():
    """Apache Kafka (KRaft) from testcontainers, or None without the `docker` extra."""
    try:
        from testcontainers.kafka import KafkaContainer
    except ImportError:
        return None
    return KafkaContainer().with_kraft()


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    external = os.environ.get("LEDGER_KAFKA_BOOTSTRAP")
    if external:
        yield external
        return
    container = _kafka_container() if _docker_engine_answers() else None
    if container is not None:
        with container as kafka:
            yield kafka.get_bootstrap_server()
        return
    from infra.broker import Broker

    with Broker() as broker:
        yield broker.bootstrap


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/ledger.db"


@pytest.fixture
def kafka_url(kafka_bootstrap) -> str:
    return kafka_log_url(kafka_bootstrap)


@pytest.fixture(params=["sqlite", "kafka"])
def log_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/ledger.db"
    return kafka_log_url(request.getfixturevalue("kafka_bootstrap"))


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory) -> Iterator[Path]:
    """Packaged models (`hf:smollm2-135m`) are dequantised at most once per test session, into
    this directory (`$LEDGER_MODEL_CACHE`, inherited by subprocesses); an existing
    `$LEDGER_MODEL_CACHE` is used as it is."""
    if os.environ.get("LEDGER_MODEL_CACHE"):
        yield Path(os.environ["LEDGER_MODEL_CACHE"])
        return
    path = tmp_path_factory.mktemp("models")
    os.environ["LEDGER_MODEL_CACHE"] = str(path)
    try:
        yield path
    finally:
        os.environ.pop("LEDGER_MODEL_CACHE", None)


@pytest.fixture(scope="session")
def swebench_mini(tmp_path_factory):
    """The mini SWE-bench (rows in SWE-bench 5's format + bare mirrors), built once per session."""
    from producers.datasets.swebench_mini import ensure_swebench_mini

    return ensure_swebench_mini(tmp_path_factory.mktemp("swebench-mini-cache"))
