"""What only the Kafka backend does: URL options, topic creation with a prefix, clear errors."""
from __future__ import annotations

import pytest
from kafka import KafkaAdminClient

from events.log import LogUnavailable, open_log
from events.log.kafka_options import parse_kafka_url
from events.topics import CATALOG
from infra.broker import free_port
from tests.events.samples import actions


def test_url_options_are_parsed():
    opts = parse_kafka_url("kafka://a:1,b:2?prefix=s.&session_timeout_ms=6000&create_topics=false")
    assert opts.bootstrap == ("a:1", "b:2")
    assert opts.prefix == "s." and opts.session_timeout_ms == 6000 and opts.create_topics is False
    assert opts.consumer_group_config() == {"session_timeout_ms": 6000}


@pytest.mark.parametrize("url, message", [
    ("kafka://h:1?colour=red", "unknown Kafka log option 'colour'"),
    ("kafka://h:1?linger_ms=soon", "linger_ms must be an integer"),
    ("kafka://hostonly", "has no port"),
    ("kafka://", "not a Kafka log URL"),
])
def test_bad_urls_name_what_is_wrong(url, message):
    with pytest.raises(ValueError, match=message):
        parse_kafka_url(url)


def test_unreachable_cluster_is_log_unavailable():
    url = f"kafka://127.0.0.1:{free_port()}?bootstrap_timeout_ms=1000"
    with pytest.raises(LogUnavailable, match="cannot open Kafka log at 127.0.0.1"):
        open_log(url)


def test_catalog_topics_are_created_with_the_prefix_on_the_wire(kafka_bootstrap):
    prefix = "pfx-test."
    log = open_log(f"kafka://{kafka_bootstrap}?prefix={prefix}")
    try:
        positions = log.append("actions", actions(3))
        assert {p.topic for p in positions} == {"actions"}
        assert [r.topic for r in log.read("actions")] == ["actions"] * 3
    finally:
        log.close()
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        described = {t["name"]: len(t["partitions"]) for t in admin.describe_topics()}
    finally:
        admin.close()
    assert {f"{prefix}{name}": t.partitions for name, t in CATALOG.items()}.items() <= described.items()
    assert "actions" not in described


def test_reopening_keeps_existing_topics_and_data(kafka_url):
    with open_log(kafka_url) as log:
        log.append("actions", actions(5))
    with open_log(kafka_url) as log:
        assert sum(log.end_offsets("actions").values()) == 5


def test_end_offsets_follow_every_append(kafka_url):
    with open_log(kafka_url) as log:
        totals = []
        for _ in range(3):
            log.append("actions", actions(4, keys=1))
            totals.append(sum(log.end_offsets("actions").values()))
        assert totals == [4, 8, 12]
