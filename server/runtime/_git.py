"""Git sources: ``URL[/subfolder][@ref]`` cloned by the server and packed like an upload.

A source is git when it has a scheme (``https://``, ``ssh://``, ``file://``…), is scp-like
(``git@host:org/repo``) or is a path to a repository. Where the repository ends and the
subfolder begins: for a path (or ``file://``), the deepest folder that is a repository; for a
remote URL, ``host/org/repo`` (the usual forge layout), or a path component ending in
``.git``. ``@ref`` is a branch, tag or commit (default: the default branch).

The clone is made in a temporary folder and its tree at the ref is packed (tar.gz), so the
rest of the runtime handles it exactly as a folder uploaded by the CLI. Git's messages are
reduced to one line with any ``user:password@`` of the URL removed, so credentials never
reach status, logs or errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path

from micro import errors, settings
from server.runtime._build import DIES_WITH_SERVER

__all__ = ["GitSource", "clone", "is_git", "parse"]

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)
_SCP = re.compile(r"^[\w.-]+@[\w.-]+:")
_CREDENTIALS = re.compile(r"(//)[^/@\s]+@")


@dataclass(frozen=True)
class GitSource:
    repository: str  # what git clones
    subfolder: str  # "" for the root
    ref: str  # "" for the default branch

    @property
    def name(self) -> str:
        """The runtime name it gets by default: the subfolder's last part, else the repository's."""
        last = self.subfolder.rstrip("/").rsplit("/", 1)[-1] if self.subfolder else ""
        if not last:
            last = self.repository.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
        return last.removesuffix(".git")


def redact(text: str) -> str:
    """``text`` without the credentials of any URL in it."""
    return _CREDENTIALS.sub(r"\1", text)


def _split_ref(source: str) -> tuple[str, str]:
    """``(source, ref)`` of ``source@ref``; an ``@`` of ``user@host`` is no ref (a ref has
    no ``/`` or ``:``)."""
    head, sep, ref = source.rpartition("@")
    if not sep or not head or not ref or "/" in ref or ":" in ref:
        return source, ""
    return head, ref


def _is_repository(path: Path) -> bool:
    return (path / ".git").exists() or ((path / "HEAD").is_file() and (path / "objects").is_dir())


def is_git(source: str) -> bool:
    """Whether ``source`` names a git source (rather than a folder or a bare name)."""
    if _SCHEME.match(source) or _SCP.match(source):
        return True
    path, _ = _split_ref(source)
    return path.startswith(("/", "./", "../", "~")) and _local_split(Path(path).expanduser()) is not None


def _local_split(path: Path) -> tuple[Path, str] | None:
    for candidate in (path, *path.parents):
        if candidate.is_dir() and _is_repository(candidate):
            return candidate, path.relative_to(candidate).as_posix().strip(".")
    return None


def parse(source: str) -> GitSource:
    """The repository, subfolder and ref of ``source``.

    Raises:
        BadRequest: not a git source, or a local path with no repository.
    """
    rest, ref = _split_ref(source.strip())
    if rest.startswith("file://") or not (_SCHEME.match(rest) or _SCP.match(rest)):
        local = Path(rest.removeprefix("file://")).expanduser()
        found = _local_split(local)
        if found is None:
            raise errors.BadRequest(f"no git repository at {redact(rest)}")
        repo, sub = found
        return GitSource(str(repo), sub, ref)
    if _SCP.match(rest):
        host, _, path = rest.partition(":")
        prefix = host + ":"
    else:
        scheme, _, remainder = rest.partition("://")
        host, _, path = remainder.partition("/")
        prefix = f"{scheme}://{host}/"
    parts = [p for p in path.split("/") if p]
    cut = next((i + 1 for i, p in enumerate(parts) if p.endswith(".git")), min(2, len(parts)))
    return GitSource(prefix + "/".join(parts[:cut]), "/".join(parts[cut:]), ref)


_ASKPASS = """#!/bin/sh
case "$1" in
  Username*) printf '%s\\n' "$GIT_SOURCE_USER" ;;
  *) printf '%s\\n' "$GIT_SOURCE_PASSWORD" ;;
esac
"""


def _credentials(url: str) -> tuple[str, str, str]:
    """``url`` without its ``user:password@``, and the user and password (unquoted)."""
    from urllib.parse import unquote

    match = re.match(r"^([a-z][a-z0-9+.-]*://)([^/@\s]+)@(.*)$", url, re.I)
    if match is None:
        return url, "", ""
    user, _, password = match.group(2).partition(":")
    return match.group(1) + match.group(3), unquote(user), unquote(password)


async def _git(*args: str, cwd: Path | None = None, secret: dict[str, str] | None = None) -> tuple[int, str]:
    """Run git; ``secret`` (the askpass script and the credentials) goes in its environment,
    never on a command line ``ps`` shows."""
    env = settings.foreign_env()
    env.update(GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="true", LC_ALL="C")
    env.update(secret or {})
    # dies with the server, like the services (a build cut short by kill -9 leaves nothing)
    proc = await asyncio.create_subprocess_exec(
        *DIES_WITH_SERVER,
        "git",
        *args,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        out, _ = await proc.communicate()
    except asyncio.CancelledError:  # the service was killed or the server stops: so does this
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        raise
    return proc.returncode or 0, out.decode(errors="replace")


def _reason(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    fatal = [line.removeprefix("fatal: ") for line in lines if line.startswith(("fatal:", "error:"))]
    return redact((fatal or lines or ["git failed"])[-1])


async def clone(source: GitSource, scratch: Path) -> bytes:
    """The tree of ``source`` at its ref, packed as a tar.gz (the whole repository; the
    subfolder is where the service runs).

    Raises:
        BadRequest: the repository or the ref does not exist (one line, no credentials).
    """
    with tempfile.TemporaryDirectory(dir=scratch, prefix=".clone-") as tmp:
        work = Path(tmp) / "repo"
        url, user, password = _credentials(source.repository)
        secret: dict[str, str] = {}
        if user or password:
            askpass = Path(tmp) / "askpass"
            fd = os.open(askpass, os.O_WRONLY | os.O_CREAT, 0o700)
            with os.fdopen(fd, "w") as f:
                f.write(_ASKPASS)
            secret = {"GIT_ASKPASS": str(askpass), "GIT_SOURCE_USER": user, "GIT_SOURCE_PASSWORD": password}
        code, output = await _git("clone", "--quiet", "--no-checkout", "--", url, str(work), secret=secret)
        if code != 0:
            raise errors.BadRequest(f"cannot clone {redact(source.repository)}: {_reason(output)}")
        ref = source.ref or "HEAD"
        code, output = await _git("-C", str(work), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        if code != 0:
            code, output = await _git(
                "-C", str(work), "rev-parse", "--verify", "--quiet", f"origin/{ref}^{{commit}}"
            )
        if code != 0:
            raise errors.BadRequest(f"no branch, tag or commit {ref} in {redact(source.repository)}")
        commit = output.strip()
        archive = Path(tmp) / "source.tar.gz"
        code, output = await _git("-C", str(work), "archive", "--format=tar.gz", "-o", str(archive), commit)
        if code != 0:
            raise errors.BadRequest(f"cannot read {ref} of {redact(source.repository)}: {_reason(output)}")
        if source.subfolder:
            code, _ = await _git("-C", str(work), "cat-file", "-e", f"{commit}:{source.subfolder}")
            if code != 0:
                raise errors.BadRequest(
                    f"no folder {source.subfolder} in {ref} of {redact(source.repository)}"
                )
        return archive.read_bytes()
