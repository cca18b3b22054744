"""The docker sandbox: the repo copied into a fresh container (docker SDK).

The container runs `sleep infinity` with no network (`network_mode=none`),
a memory limit, and is removed on close when `remove` is set. The checkout
is made on the host exactly as for the local sandbox (shallow fetch of the
base commit) and copied in as a tar archive to /repo, so the image needs
bash, git and coreutils' `timeout` but no network. Each command runs as
`timeout -k 1 <t> bash -c ...`, which signals the command's whole process
group inside the container.
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

from events.payloads import SandboxInfo

from .base import CommandResult, SandboxError
from .local import DEFAULT_OUTPUT_CAP
from .checkout import checkout_commit
from .patch import PATCH_FILE_NAME

__all__ = ["DockerSandbox", "DockerSandboxFactory", "docker_available"]

_WORKDIR = "/repo"
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
                 output_cap: int = DEFAULT_OUTPUT_CAP) -> None:
        self.image, self.memory = image, memory
        self.startup_timeout, self.remove, self.output_cap = startup_timeout, remove, output_cap

    def create(self, repo: Path, base_commit: str) -> "DockerSandbox":
        return DockerSandbox(self, Path(repo), base_commit)


class DockerSandbox:
    def __init__(self, factory: DockerSandboxFactory, repo: Path, base_commit: str) -> None:
        import docker

        self._factory = factory
        self.info = SandboxInfo(kind="docker", network_isolated=True, filesystem_isolated=True,
                                image=factory.image)
        self.workdir = Path(_WORKDIR)
        self._closed = False
        self._container = None
        self._host = Path(tempfile.mkdtemp(prefix="ledger-dsbx-"))
        self._client = docker.from_env(timeout=max(60, int(factory.startup_timeout)))
        try:
            self.base_commit = checkout_commit(repo, base_commit, self._host / "repo")
            self._start()
            self._container.put_archive("/", _tar_dir(self._host / "repo", "repo"))
            self._exec(_GIT_SETUP, 4096)
        except BaseException:
            self.close()
            raise

    def _start(self) -> None:
        f = self._factory
        try:
            self._container = self._client.containers.run(
                f.image, ["sleep", "infinity"], detach=True, mem_limit=f.memory,
                network_mode="none", working_dir=_WORKDIR, name=f"ledger-{uuid.uuid4().hex[:12]}",
                labels={"ledger.sandbox": "1"})
        except Exception as exc:
            raise SandboxError(f"cannot start a container from {f.image!r}: {exc}") from exc
        deadline = time.monotonic() + f.startup_timeout
        while True:
            self._container.reload()
            if self._container.status == "running":
                return
            if self._container.status in ("exited", "dead") or time.monotonic() > deadline:
                raise SandboxError(f"container of {f.image!r} is {self._container.status!r} "
                                   f"after {f.startup_timeout}s")
            time.sleep(0.2)

    def run(self, command: str, timeout_s: float = 60.0) -> CommandResult:
        """Run `bash -c command` in /repo; a timeout kills its process group."""
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
        exec_id = api.exec_create(self._container.id, ["bash", "-c", command], workdir=_WORKDIR,
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
        """Write a file under /repo; paths escaping it raise SandboxError."""
        self._check_open()
        norm = posixpath.normpath(posixpath.join(_WORKDIR, relpath))
        if not norm.startswith(_WORKDIR + "/"):
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
