"""The local sandbox: a fresh clone per episode in a temporary directory.

Layout of one sandbox (everything a command writes lands here, and `close`
removes all of it)::

    <root>/ledger-sbx-[LABEL.pPID-]XXXX/      (LABEL: the owner's episode id; PID: its process)
        repo/   a shallow fetch of the base commit alone, checked out detached = workdir
                (from a local repository, a bare mirror or a URL: `checkout.py`)
                (later commits of the source, which may hold the fix, are not there;
                nothing is shared with or written to the source repository)
        home/   HOME, with a .gitconfig; $LEDGER_PATCH_FILE = home/submission.patch
        tmp/    TMPDIR
        bin/    python / python3 / pytest wrappers for the project interpreter, or for the
                environment's venv when the sandbox is made with one

Each command is `bash -c` in the clean environment of `environment.clean_env`,
in its own process group, under `prlimit` limits and, where the kernel allows,
in fresh network and mount namespaces (`unshare -n -m`): no network, and
everything outside the sandbox directory read-only (see `isolation`).

With an `environment` (producers.environments.Environment), commands use its
venv: the wrappers run its interpreter, its `bin/` follows the sandbox's on PATH,
the checkout's `pythonpath` dirs lead PYTHONPATH, the spec's variables are set,
and pytest plugins auto-load (they are the repository's own).
"""
from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from events.payloads import SandboxInfo

from .base import CommandResult, SandboxError
from .checkout import checkout_commit, is_url
from .environment import clean_env, write_bin_dir
from .isolation import Namespace, Rlimits, probe_filesystem_isolation, probe_network_isolation, wrap_command
from .leftovers import force_remove as _force_remove
from .leftovers import sandbox_prefix
from .patch import PATCH_FILE_NAME, extract_patch
from .process import MARKER_VAR, kill_marked, run_capped

if TYPE_CHECKING:
    from producers.environments import Environment

__all__ = ["LocalSandbox", "LocalSandboxFactory", "DEFAULT_OUTPUT_CAP"]

DEFAULT_OUTPUT_CAP = 8 << 20
_GITCONFIG = "[user]\n\tname = ledger-agent\n\temail = agent@ledger.invalid\n" \
             "[advice]\n\tdetachedHead = false\n"


class LocalSandboxFactory:
    """Makes `LocalSandbox`es.

    root: parent directory of the sandboxes (default: the system temp dir).
    output_cap: bytes of a command's output kept; the rest is counted and dropped.
    rlimits: CPU / memory / file-size limits per command.
    network: allow network access (False: isolate when the kernel allows it).
    write_outside: let commands write outside their sandbox directory (False: the
        rest of the filesystem is read-only to them when the kernel allows it).
    """

    def __init__(self, root: Path | str | None = None, output_cap: int = DEFAULT_OUTPUT_CAP,
                 rlimits: Rlimits = Rlimits(), network: bool = False, write_outside: bool = False) -> None:
        self.root = Path(root) if root is not None else Path(tempfile.gettempdir())
        self.label = ""
        """Ties the sandboxes made next to their owner (an episode id) by their directory
        name, so the ones left by a killed owner can be found and removed (leftovers.py)."""
        self.output_cap = output_cap
        self.rlimits = rlimits
        self.network = network
        self.write_outside = write_outside

    def create(self, repo: Path | str, base_commit: str,
               environment: "Environment | None" = None) -> "LocalSandbox":
        """`repo`: a local repository (working copy or bare mirror) or a git URL."""
        return LocalSandbox(self, repo if is_url(repo) else Path(repo), base_commit, environment)

    def info(self) -> SandboxInfo:
        net_isolated, net_note = _isolation(self.network, "network allowed by configuration",
                                            probe_network_isolation)
        fs_isolated, fs_note = _isolation(self.write_outside, "writes outside the sandbox allowed by configuration",
                                          probe_filesystem_isolation)
        return SandboxInfo(kind="local", network_isolated=net_isolated, filesystem_isolated=fs_isolated,
                           note="; ".join(note for note in (net_note, fs_note) if note))


def _isolation(allowed: bool, allowed_note: str, probe: Callable[[], Namespace]) -> tuple[bool, str]:
    """(isolated, note) of one kind of isolation: off by configuration, else what the machine allows."""
    if allowed:
        return False, allowed_note
    namespace = probe()
    return namespace.isolated, namespace.note


class LocalSandbox:
    def __init__(self, factory: LocalSandboxFactory, repo: Path | str, base_commit: str,
                 environment: "Environment | None" = None) -> None:
        self._factory = factory
        self.environment = environment
        self.info = factory.info()
        self._isolation = None if factory.network else probe_network_isolation()
        self._filesystem = None if factory.write_outside else probe_filesystem_isolation()
        self._marker = uuid.uuid4().hex
        self._closed = False
        factory.root.mkdir(parents=True, exist_ok=True)
        self.root = Path(tempfile.mkdtemp(prefix=sandbox_prefix(factory.label), dir=factory.root))
        self.workdir = self.root / "repo"
        self.patch_file = self.root / "home" / PATCH_FILE_NAME
        self.env = clean_env(self.root, self._marker, MARKER_VAR, self.patch_file)
        if environment is not None:
            self.env = _with_environment(self.env, environment, self.workdir)
        try:
            self.base_commit = self._prepare(repo, base_commit)
        except BaseException:
            self.close()
            raise

    def _prepare(self, repo: Path | str, base_commit: str) -> str:
        for sub in ("home", "tmp"):
            (self.root / sub).mkdir()
        (self.root / "home" / ".gitconfig").write_text(_GITCONFIG)
        if self.environment is not None:
            write_bin_dir(self.root / "bin", python=str(self.environment.python))
        else:
            write_bin_dir(self.root / "bin")
        return checkout_commit(repo, base_commit, self.workdir, env=self.env)

    def run(self, command: str, timeout_s: float = 60.0) -> CommandResult:
        """Run `bash -c command` in `workdir`; a timeout kills its whole process group."""
        self._check_open()
        argv = wrap_command(command, self._factory.rlimits, self._isolation, self._filesystem,
                            writable=self.root, cwd=self.workdir)
        raw = run_capped(argv, cwd=self.workdir, env=self.env, timeout_s=timeout_s,
                         output_cap=self._factory.output_cap)
        return CommandResult(exit_code=raw.exit_code,
                             output=raw.output.decode("utf-8", errors="replace"),
                             output_size=raw.output_size, output_capped=raw.output_capped,
                             timed_out=raw.timed_out, duration_s=raw.duration_s)

    def write_file(self, relpath: str, content: str | bytes) -> None:
        """Write a file under `workdir`; paths escaping it raise SandboxError."""
        self._check_open()
        target = (self.workdir / relpath).resolve()
        if not target.is_relative_to(self.workdir.resolve()) or target == self.workdir.resolve():
            raise SandboxError(f"path escapes the sandbox: {relpath!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode() if isinstance(content, str) else content
        target.write_bytes(data)

    def diff(self) -> str:
        """The patch against `base_commit` (see `patch.extract_patch`)."""
        self._check_open()
        try:
            return extract_patch(self.workdir, self.base_commit,
                                 [self.patch_file, self.workdir / PATCH_FILE_NAME],
                                 env=self.env)
        except RuntimeError as exc:
            raise SandboxError(str(exc)) from exc

    def close(self) -> None:
        """Kill what is left running and remove the sandbox directory. Idempotent."""
        if self._closed:
            return
        self._closed = True
        kill_marked(self._marker)
        shutil.rmtree(self.root, onerror=_force_remove)

    def _check_open(self) -> None:
        if self._closed:
            raise SandboxError("sandbox is closed")

    def __enter__(self) -> "LocalSandbox":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _with_environment(env: dict[str, str], environment: "Environment",
                      workdir: Path) -> dict[str, str]:
    """The clean environment with the venv's bin after the sandbox's own, its variables,
    and the repository's pytest plugins allowed to load."""
    head, _, rest = env["PATH"].partition(":")
    out = {k: v for k, v in env.items() if k != "PYTEST_DISABLE_PLUGIN_AUTOLOAD"}
    out.update(environment.command_env(workdir))
    out["PATH"] = ":".join([head, *map(str, environment.path_dirs), rest])
    return out
