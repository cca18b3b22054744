"""The official harness's per-instance images: their names, and getting one onto the engine.

Names are the harness's: the row's `image` column (what `make_test_spec` puts in
`TestSpec.image`, e.g. `swebench/sweb.eval.x86_64.django_1776_django-11099:latest`),
else `swebench.image_builder.ImageSpec(...).name` (`sweb.eval.x86_64.<id>:latest`).
SWE-bench 5 has instance images only (no separate env/base images). A missing
image is built with the harness's builder (`build_instance_image`, docker buildx)
from the instance's Dockerfile in a harness task repo (`tasks/<id>/Dockerfile`,
its directory the build context) when building is allowed, else pulled, as
`run_evaluation` does; when neither works the sandbox is not made
(`ImageUnavailable`, an infrastructure error).
"""
from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any

from .base import ImageUnavailable

__all__ = ["instance_image", "ensure_image"]


def instance_image(instance: Any) -> str:
    from producers.harness.swebench_spec import image_name

    return image_name(instance)


def ensure_image(client: Any, name: str, instance_id: str, *, build: bool, task_repo: str | None) -> str:
    """Make sure `name` is on the engine: present, else built (when `build` and the task repo
    has the instance's Dockerfile), else pulled. Returns how it got there."""
    import docker.errors

    try:
        client.images.get(name)
        return "present"
    except docker.errors.ImageNotFound:
        pass
    if build and task_repo:
        from producers.datasets.lock import file_lock

        lock = Path(tempfile.gettempdir()) / f"ledger-image-{hashlib.sha256(name.encode()).hexdigest()[:16]}.lock"
        with file_lock(lock):
            return _build(client, name, instance_id, task_repo)
    try:
        client.images.pull(name)
    except docker.errors.DockerException as exc:
        why = "building is off (sandbox.build_images)" if not build else "no task repo to build from"
        raise ImageUnavailable(f"image {name} is not on the engine, cannot be pulled ({exc}) and {why}") from exc
    return "pulled"


def _build(client: Any, name: str, instance_id: str, task_repo: str) -> str:
    import docker.errors
    from swebench.image_builder import BuildImageError, build_instance_image
    from swebench.image_builder.image_spec import ImageSpec
    from swebench.task.repo import load_dockerfiles, task_paths

    try:
        client.images.get(name)
        return "present"  # another worker built it while this one waited
    except docker.errors.ImageNotFound:
        pass
    dockerfiles = load_dockerfiles(task_repo, [instance_id])
    if instance_id not in dockerfiles:
        raise ImageUnavailable(f"image {name}: {task_repo} has no tasks/{instance_id}/Dockerfile to build it from")
    namespace = name.split("/")[0] if "/" in name else None
    tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else "latest"
    spec = ImageSpec(instance_id=instance_id, dockerfile=dockerfiles[instance_id], namespace=namespace, tag=tag,
                     context_dir=str(task_paths(task_repo, [instance_id])[instance_id]))
    if spec.name != name:
        raise ImageUnavailable(f"the harness would build {spec.name}, not {name}: the row's image does not follow "
                               "its naming")
    try:
        build_instance_image(spec, client, None, False)
        client.images.get(name)
    except (BuildImageError, docker.errors.DockerException) as exc:
        raise ImageUnavailable(f"building {name} with the harness's builder failed: {exc}") from exc
    return "built"
