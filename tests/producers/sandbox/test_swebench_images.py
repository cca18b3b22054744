"""`sandbox.image: swebench`: the official harness's per-instance images, through the docker SDK.

The names are checked everywhere; the rest needs a Docker engine and is skipped,
with the reason, where none answers: the image is built with the harness's
builder (docker buildx) from a task repo's Dockerfile, an episode's container
has no network and the repository at the base commit in /testbed, and an
evaluation there runs the harness's eval script unchanged and resolves the gold patch.
"""
from __future__ import annotations

import os
import subprocess

import pytest

from producers.datasets import load_dataset
from producers.sandbox.docker import DockerSandboxFactory, docker_available
from producers.sandbox.images import instance_image

AVAILABLE, WHY = docker_available()
BASE_IMAGE = os.environ.get("LEDGER_TEST_DOCKER_IMAGE", "python:3.11")


def _instance(suite, iid="swe-mini__minidjango-1"):
    return next(i for i in load_dataset(suite.rows_path, repos=str(suite.mirrors)).instances
                if i.instance_id == iid)


def test_image_names_are_the_harness_names(swebench_mini):
    inst = _instance(swebench_mini)
    assert inst.image == "sweb.eval.x86_64.swe-mini__minidjango-1:latest" == instance_image(inst)
    assert instance_image(inst.model_copy(update={"image": ""})) == inst.image  # ImageSpec's naming
    hub = inst.model_copy(update={"image": "swebench/sweb.eval.x86_64.django_1776_django-11099:latest"})
    assert instance_image(hub) == "swebench/sweb.eval.x86_64.django_1776_django-11099:latest"


@pytest.fixture
def task_repo(swebench_mini, tmp_path):
    """A harness task repo holding the instance's Dockerfile and, as its build context, the checkout."""
    inst = _instance(swebench_mini)
    task = tmp_path / "tasks" / inst.instance_id
    task.mkdir(parents=True)
    (task / "task.yaml").write_text(f"instance_id: {inst.instance_id}\n")
    subprocess.run(["git", "clone", "-q", inst.repos + "/swe-mini__minidjango.git", str(task / "repo")], check=True)
    subprocess.run(["git", "checkout", "-q", inst.base_commit], cwd=task / "repo", check=True)
    (task / "Dockerfile").write_text(f"FROM {BASE_IMAGE}\nCOPY repo /testbed\nWORKDIR /testbed\n")
    return tmp_path, inst


@pytest.mark.skipif(not AVAILABLE, reason=f"docker sandbox: {WHY}")
def test_built_with_the_harness_builder_and_judged_in_it(task_repo):
    import docker

    from producers.evaluator import Evaluator

    repo, inst = task_repo
    client = docker.from_env()
    try:
        client.images.remove(inst.image, force=True)
    except docker.errors.ImageNotFound:
        pass
    episodes = DockerSandboxFactory(image="swebench", memory="1g", build_images=True, task_repo=str(repo))
    with episodes.create_for(inst) as sb:
        assert sb.testbed and str(sb.workdir) == "/testbed" and sb.info.image == inst.image
        assert sb.base_commit == inst.base_commit and sb.info.network_isolated
        assert sb.run("git rev-parse HEAD").output.strip() == inst.base_commit
        name = sb._container.name
    assert client.images.get(inst.image)  # the harness's builder made it under the harness's name
    assert name not in [c.name for c in client.containers.list(all=True)]
    evaluations = DockerSandboxFactory(image="swebench", memory="1g", network=True)
    result = Evaluator(evaluations, timeout_s=600).evaluate(inst, inst.patch)
    assert (result.harness, result.status, result.resolved) == ("swebench", "ok", True), result.reason
    assert "conda activate testbed" in result.log.text  # the eval script ran as the harness wrote it


@pytest.mark.skipif(not AVAILABLE, reason=f"docker sandbox: {WHY}")
def test_an_image_that_cannot_be_had_is_an_infra_error(swebench_mini):
    from producers.evaluator import Evaluator

    inst = _instance(swebench_mini).model_copy(update={"image": "ledger-test/absent:never"})
    result = Evaluator(DockerSandboxFactory(image="swebench", build_images=False)).evaluate(inst, inst.patch)
    assert (result.status, result.infra_cause) == ("infra", "image") and "ledger-test/absent:never" in result.reason


def test_without_an_engine_the_sandbox_is_an_infra_error(swebench_mini):
    if AVAILABLE:
        pytest.skip("a Docker engine answers here")
    from producers.evaluator import Evaluator

    inst = _instance(swebench_mini)
    result = Evaluator(DockerSandboxFactory(image="swebench")).evaluate(inst, inst.patch)
    assert (result.status, result.infra_cause, result.resolved) == ("infra", "sandbox", False)
    assert "no Docker engine answers" in result.reason
