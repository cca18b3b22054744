"""The docker sandbox: a fresh container per episode or evaluation (docker SDK).

Two kinds of image:

- a general image (`sandbox.image: python:3.11`): the checkout is made on the
  host exactly as for the local sandbox (shallow fetch of the base commit) and
  copied in as a tar archive to /repo, so the image needs bash, git and
  coreutils' `timeout` but no network;
- `sandbox.image: swebench`: the official harness's image for the instance
  (`images.py`: its name from the test spec, built with the harness's builder or
  pulled when missing), which already holds the repository at the base commit in
  /testbed with its environment; nothing is copied, the commit is checked, and
  the harness's eval script runs there unchanged (`testbed` is True).

The container runs `sleep infinity` with no network (`network_mode=none`) unless
the factory allows it (evaluations in the harness's images: its install step may
need it, as in the harness), a memory limit, and is removed on close when
`remove` is set. Each command runs as `timeout -k 1 <t> bash -c ...`, which
signals the command's whole process group inside the container.
"""
from __future__ import annotations

import io
import posixpath
import shlex
import shutil
import tarfile
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from events.payloads import SandboxInfo

from .base import CommandResult, SandboxError, SourceMissing
from .local import DEFAULT_OUTPUT_CAP
from .checkout import checkout_commit
from .images import ensure_image, instance_image
from .patch import PATCH_FILE_NAME

__all__ = ["DockerSandbox", "DockerSandboxFactory", "docker_available", "SWEBENCH_IMAGE"]

SWEBENCH_IMAGE = "swebench"
"""`sandbox.image` value meaning: each instance's own image from the official harness."""
_WORKDIR = "/repo"
_TESTBED = "/testbed"
_HOME = "/root"
_TIMEOUT_EXIT = 124
_DIFF_CAP = 256 << 20
_GIT_SETUP = ("git config --global --add safe.directory '*' && "
              "git config --global user.name ledger-agent && "
              "git config --global user.email agent@ledger.invalid")


def docker_available() -> tuple[bool, str]:
    """(True, "") when a Docker engine answers, else (False, why)."""
    try:
        import docker
    except ImportError:
        return False, "the docker SDK is not installed (pip install 'swe-ledger[docker]')"
    try:
        docker.from_env(timeout=5).ping()
    except Exception as exc:  # the SDK raises several types for "no engine"
        return False, f"no Docker engine answers: {exc}"
    return True, ""


class DockerSandboxFactory:
    """Makes `DockerSandbox`es (the SWE Agent Recipe's `sandbox_config` docker fields).

    image: image to run (docker_image). memory: memory limit, e.g. "8g"
    (docker_memory_limit). startup_timeout: seconds for the container to be
    running (docker_startup_timeout). remove: remove the container on close
    (docker_remove_container). output_cap: bytes of a command's output kept.
    """

    def __init__(self, image: str = "swerex-python:3.11", memory: str = "8g",
                 startup_timeout: float = 180.0, remove: bool = True,
                 output_cap: int = DEFAULT_OUTPUT_CAP, *, network: bool = False, build_images: bool = False,
                 task_repo: str | None = None) -> None:
        self.image, self.memory = image, memory
        self.startup_timeout, self.remove, self.output_cap = startup_timeout, remove, output_cap
        self.network, self.build_images, self.task_repo = network, build_images, task_repo

    def create(self, repo: Path | str, base_commit: str) -> "DockerSandbox":
        if self.image == SWEBENCH_IMAGE:
            raise SandboxError("sandbox.image swebench needs the instance (create_for), not a repository")
        return DockerSandbox(self, self.image, base_commit, repo=repo)

    def create_for(self, instance: Any) -> "DockerSandbox":
        """A sandbox for `instance`: in its harness image (`swebench`), else from its repository."""
        if self.image != SWEBENCH_IMAGE:
            from producers.agents.workspace import repo_source_of

            return self.create(repo_source_of(instance), instance.base_commit)
        return DockerSandbox(self, instance_image(instance), instance.base_commit, instance_id=instance.instance_id)


class DockerSandbox:
    def __init__(self, factory: DockerSandboxFactory, image: str, base_commit: str, *,
                 repo: Path | str | None = None, instance_id: str = "") -> None:
        import docker
        import docker.errors

        self._factory = factory
        self.testbed = repo is None
        """True in the harness's image: the repository is already in /testbed."""
        self.image = image
        self.info = SandboxInfo(kind="docker", network_isolated=not factory.network, filesystem_isolated=True,
                                image=image, note="network allowed (evaluation in the harness's image)"
                                if factory.network else "")
        self.workdir = Path(_TESTBED if self.testbed else _WORKDIR)
        self._closed = False
        self._container = None
        self._host = Path(tempfile.mkdtemp(prefix="ledger-dsbx-"))
        try:
            try:
                self._client = docker.from_env(timeout=max(60, int(factory.startup_timeout)))
            except docker.errors.DockerException as exc:
                raise SandboxError(f"no Docker engine answers: {exc}") from exc
            if self.testbed:
                ensure_image(self._client, image, instance_id, build=factory.build_images,
                             task_repo=factory.task_repo)
                self._start()
                self.base_commit = self._testbed_commit(base_commit)
            else:
                self.base_commit = checkout_commit(repo, base_commit, self._host / "repo")
                self._start()
                self._container.put_archive("/", _tar_dir(self._host / "repo", "repo"))
                self._exec(_GIT_SETUP, 4096)
        except BaseException:
            self.close()
            raise

    def _testbed_commit(self, base_commit: str) -> str:
        code, out, _ = self._exec(f"{_GIT_SETUP} && git rev-parse HEAD", 4096)
        head = out.decode(errors="replace").strip().splitlines()[-1:] or [""]
        if code != 0 or not head[0].startswith(base_commit):
            raise SourceMissing(f"image {self.image} holds commit {head[0] or '?'} in {_TESTBED}, "
                                f"not the base commit {base_commit}")
        return head[0]

    def _start(self) -> None:
        f = self._factory
        try:
            network = {} if f.network else {"network_mode": "none"}
            self._container = self._client.containers.run(
                self.image, ["sleep", "infinity"], detach=True, mem_limit=f.memory, user="root",
                working_dir=str(self.workdir), name=f"ledger-{uuid.uuid4().hex[:12]}",
                labels={"ledger.sandbox": "1"}, **network)
        except Exception as exc:
            raise SandboxError(f"cannot start a container from {self.image!r}: {exc}") from exc
        deadline = time.monotonic() + f.startup_timeout
        while True:
            self._container.reload()
            if self._container.status == "running":
                return
            if self._container.status in ("exited", "dead") or time.monotonic() > deadline:
                raise SandboxError(f"container of {self.image!r} is {self._container.status!r} "
                                   f"after {f.startup_timeout}s")
            time.sleep(0.2)

    def run(self, command: str, timeout_s: float = 60.0) -> CommandResult:
        """Run `bash -c command` in the workdir; a timeout kills its process group."""
        self._check_open()
        wrapped = f"timeout -k 1 {timeout_s:.3f} bash -c {shlex.quote(command)}"
        start = time.monotonic()
        code, kept, size = self._exec(wrapped, self._factory.output_cap)
        duration = time.monotonic() - start
        timed_out = code == _TIMEOUT_EXIT and duration >= timeout_s
        return CommandResult(exit_code=None if timed_out else code,
                             output=kept.decode("utf-8", errors="replace"), output_size=size,
                             output_capped=size > self._factory.output_cap,
                             timed_out=timed_out, duration_s=duration)

    def _exec(self, command: str, cap: int) -> tuple[int | None, bytes, int]:
        api = self._client.api
        exec_id = api.exec_create(self._container.id, ["bash", "-c", command], workdir=str(self.workdir),
                                  environment={"HOME": _HOME, "LANG": "C.UTF-8",
                                               "PAGER": "cat", "GIT_PAGER": "cat",
                                               "LEDGER_PATCH_FILE": f"{_HOME}/{PATCH_FILE_NAME}"})
        kept, size = bytearray(), 0
        for chunk in api.exec_start(exec_id, stream=True):
            size += len(chunk)
            if len(kept) < cap:
                kept += chunk[:cap - len(kept)]
        return api.exec_inspect(exec_id).get("ExitCode"), bytes(kept), size

    def write_file(self, relpath: str, content: str | bytes) -> None:
        """Write a file under the workdir; paths escaping it raise SandboxError."""
        self._check_open()
        root = str(self.workdir)
        norm = posixpath.normpath(posixpath.join(root, relpath))
        if not norm.startswith(root + "/"):
            raise SandboxError(f"path escapes the sandbox: {relpath!r}")
        data = content.encode() if isinstance(content, str) else content
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(norm.lstrip("/"))
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
        self._container.put_archive("/", buf.getvalue())

    def diff(self) -> str:
        """The patch against the base commit, else the agent's patch file (see patch.py)."""
        self._check_open()
        script = (f"git add -A && git diff --cached --binary -M --no-color --no-ext-diff "
                  f"{self.base_commit} -- > /tmp/ledger.diff && "
                  f"if [ -s /tmp/ledger.diff ]; then cat /tmp/ledger.diff; "
                  f"else for f in \"$LEDGER_PATCH_FILE\" {PATCH_FILE_NAME}; do "
                  f"if [ -s \"$f\" ]; then head -c {_DIFF_CAP} \"$f\"; break; fi; done; true; fi")
        code, out, _ = self._exec(script, _DIFF_CAP)
        if code != 0:
            raise SandboxError(f"git diff failed in the container: {out[-2000:]!r}")
        return out.decode("utf-8", errors="replace")

    def close(self) -> None:
        """Stop (and with `remove`, delete) the container; remove the host checkout."""
        if self._closed:
            return
        self._closed = True
        if self._container is not None:
            try:
                if self._factory.remove:
                    self._container.remove(force=True)
                else:
                    self._container.stop(timeout=5)
            except Exception:  # already gone; nothing left to clean
                pass
        shutil.rmtree(self._host, ignore_errors=True)

    def _check_open(self) -> None:
        if self._closed:
            raise SandboxError("sandbox is closed")

    def __enter__(self) -> "DockerSandbox":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _tar_dir(src: Path, arcname: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(src, arcname=arcname)
    return buf.getvalue()
