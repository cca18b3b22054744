"""configs/demo-distributed.yaml is the demo job (configs/demo.yaml) with its episodes run by workers."""
from __future__ import annotations

from pathlib import Path

from producers.orchestrator.config import load_config

ROOT = Path(__file__).resolve().parents[3]


def test_demo_distributed_is_the_demo_job_scheduled_onto_workers():
    demo = load_config(ROOT / "configs" / "demo.yaml")
    dist = load_config(ROOT / "configs" / "demo-distributed.yaml", check_machine=False)  # no broker needed
    assert dist.batch.mode == "distributed" and demo.batch.mode == "local"
    assert dist.log.startswith("kafka://")
    for section in ("model", "dataset", "agent", "sandbox", "sampling", "resume_policy"):
        assert getattr(dist, section) == getattr(demo, section), section
