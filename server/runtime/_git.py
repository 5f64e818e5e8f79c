"""Git sources: ``URL[/subfolder][@ref]`` cloned by the server and packed like an upload.

A source is git when it has a scheme (``https://``, ``ssh://``, ``file://``…), is scp-like
(``git@host:org/repo``) or is a path to a repository. Where the repository ends and the
subfolder begins: for a path (or ``file://``), the deepest folder that is a repository; for a
remote URL, ``host/org/repo`` (the usual forge layout), or a path component ending in
``.git``. ``@ref`` is a branch, tag or commit (default: the default branch). Telling git
from a folder, the ref and the credentials of a URL are the framework's
(:mod:`micro.runtime.source`), shared with the clients that send the source.

The clone is made in a temporary folder and its tree at the ref is packed (tar.gz), so the
rest of the runtime handles it exactly as a folder uploaded by the CLI. Credentials (from
``micro user config set git.credentials…`` on the client, sent with the request, or a URL's
``user:password@``) reach git through ``GIT_ASKPASS``: a script that prints the user name or
the password from 0600 files beside it, in a 0700 folder deleted after the clone. So they
are never on a command line (``ps``), in any process's environment, in the clone's
``.git/config`` (the URL git is given has none) or in a credential helper's store (helpers
are switched off for the clone). Git's messages are reduced to one line with any
``user:password@`` of a URL removed, so credentials never reach status, logs or errors.
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
from micro.runtime.source import (
    SCHEME,
    SCP,
    Credentials,
    is_git,
    local_repository,
    split_credentials,
    split_ref,
)
from server.runtime._build import DIES_WITH_SERVER

__all__ = ["Credentials", "GitSource", "clone", "is_git", "parse", "redact", "split_credentials"]

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


def parse(source: str) -> GitSource:
    """The repository, subfolder and ref of ``source``.

    Raises:
        BadRequest: not a git source, or a local path with no repository.
    """
    rest, ref = split_ref(source.strip())
    if rest.startswith("file://") or not (SCHEME.match(rest) or SCP.match(rest)):
        local = Path(rest.removeprefix("file://")).expanduser()
        found = local_repository(local)
        if found is None:
            raise errors.BadRequest(f"no git repository at {redact(rest)}")
        repo, sub = found
        return GitSource(str(repo), sub, ref)
    if SCP.match(rest):
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
here=$(dirname "$0")
case "$1" in
  Username*) cat "$here/username" ;;
  *) cat "$here/password" ;;
esac
"""


def _private(path: Path, text: str, mode: int = 0o600) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)


async def _git(*args: str, cwd: Path | None = None, askpass: Path | None = None) -> tuple[int, str]:
    """Run git; ``askpass`` (the script that reads the credentials) goes in its environment,
    the credentials themselves never on a command line or in an environment."""
    env = settings.foreign_env()
    env.update(GIT_TERMINAL_PROMPT="0", GIT_ASKPASS=str(askpass) if askpass else "true", LC_ALL="C")
    env.pop("SSH_ASKPASS", None)
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


async def clone(source: GitSource, scratch: Path, credentials: Credentials | None = None) -> bytes:
    """The tree of ``source`` at its ref, packed as a tar.gz (the whole repository; the
    subfolder is where the service runs). ``credentials`` win over a URL's own.

    Raises:
        BadRequest: the repository or the ref does not exist (one line, no credentials).
    """
    with tempfile.TemporaryDirectory(dir=scratch, prefix=".clone-") as tmp:
        work = Path(tmp) / "repo"
        url, in_url = split_credentials(source.repository)
        credentials = credentials or in_url
        askpass: Path | None = None
        if credentials:
            secret = Path(tmp) / "askpass.d"
            secret.mkdir(mode=0o700)
            _private(secret / "username", credentials.username)
            _private(secret / "password", credentials.password)
            askpass = secret / "askpass"
            _private(askpass, _ASKPASS, 0o700)
        # no credential helper of the server's user may keep what the askpass script gave
        clone_args = ("-c", "credential.helper=", "clone", "--quiet", "--no-checkout", "--", url, str(work))
        code, output = await _git(*clone_args, askpass=askpass)
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
