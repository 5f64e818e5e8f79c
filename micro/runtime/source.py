"""A runtime service's source as a client prepares it for ``micro run`` and ``micro update``.

A source is a folder or git. An existing folder always wins; else a source with a scheme
(``https://``, ``ssh://``, ``file://``…), an scp-like one (``git@host:org/repo``) or a path
into a repository is git, and a bare name (``helloworld``, ``hello/sub@v1``) is git under
``git.baseurl`` when the user set one (:func:`locate`).

A folder is checked (it must hold an entry point: :func:`entry_point`) and packed here, then
streamed to the server with ``Source.Upload`` (:func:`chunks`): the server never reads the
client's files. What is packed is the project root, the nearest folder, from the service's
folder up, with ``.git`` or ``pyproject.toml`` (the service's folder itself when there is
none); the service runs from its folder inside it (the *subfolder*). What git ignores is left
out: the files are those of ``git ls-files -co --exclude-standard`` in a git work tree, else
the folder walked with the ``.gitignore`` rules it holds; ``.git/``, ``.venv/`` and
``__pycache__/`` never go.

A git source is cloned by the server (``server.runtime._git``, which shares the rules here
for telling git from a folder); the client only names it and takes the credentials out of
its URL.

The CLI and the workspace both prepare a source with this module, so a refusal is the same
BadRequest line in both: the CLI prints it, the workspace shows it. The server checks the
entry point again with the same :func:`entry_point` (a git source is never seen here).
"""

from __future__ import annotations

import fnmatch
import gzip
import io
import os
import re
import shutil
import subprocess
import tarfile
import tomllib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from micro import errors

__all__ = [
    "LIMIT",
    "SCHEME",
    "SCP",
    "BuildError",
    "Credentials",
    "Packed",
    "check_runnable",
    "chunks",
    "entry_point",
    "find_root",
    "git_name",
    "is_git",
    "local_repository",
    "locate",
    "pack",
    "split_credentials",
    "split_ref",
]

#: the most a packed project may weigh (the files, and the archive)
LIMIT = 100 * 1024 * 1024
#: a source with a scheme: ``https://``, ``ssh://``, ``file://``…
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)
#: an scp-like git source: ``git@host:org/repo``
SCP = re.compile(r"^[\w.-]+@[\w.-]+:")
# a bare name (with a subfolder or a ref) that git.baseurl completes: helloworld, hello/sub@v1
# a bare name (``helloworld``, ``helloworld/sub@v1``): no part is ``.`` or ``..``, so a
# mistyped relative path (``./typo``) is a missing folder, never a name under git.baseurl
_PART = r"(?!\.+(?:/|@|$))[A-Za-z0-9_.-]+"
# a ref: a branch, tag or commit, whose name may have folders (``feature/x``); never an
# option to git (``-…``), a ``:`` (of ``host:path``) or an empty folder
_REF = re.compile(r"^(?!.*//)[^\s:/-]([^\s:]*[^\s:/])?$")
_BARE = re.compile(rf"^{_PART}(/{_PART})*(@[A-Za-z0-9_.+-]+(/[A-Za-z0-9_.+-]+)*)?$")
_ALWAYS_OUT = {".git", ".venv", "__pycache__"}


# -- folder or git ---------------------------------------------------------------------------


def split_ref(source: str) -> tuple[str, str]:
    """``(source, ref)`` of ``source@ref``. The ref is what follows the last ``@`` of the
    path, and may hold ``/`` (``feature/x``, ``release/1.2``); an ``@`` before the path
    (``https://user@host/…``, ``git@host:…``) is no ref, and neither is one of a local path
    that exists as written (a folder named ``a@b``)."""
    start = 0
    if scheme := SCHEME.match(source):
        slash = source.find("/", scheme.end())
        start = len(source) if slash < 0 else slash
    elif scp := SCP.match(source):
        start = scp.end()
    at = source.rfind("@", start)
    head, ref = source[: max(at, 0)], source[at + 1 :]
    if at < 0 or not head or not _REF.match(ref):
        return source, ""
    if (not start or source.startswith("file://")) and Path(
        source.removeprefix("file://")
    ).expanduser().exists():
        return source, ""
    return head, ref


def _is_repository(path: Path) -> bool:
    return (path / ".git").exists() or ((path / "HEAD").is_file() and (path / "objects").is_dir())


def local_repository(path: Path) -> tuple[Path, str] | None:
    """The deepest repository holding ``path`` and ``path``'s folder inside it ("" for its
    root), or None when no folder from ``path`` up is a repository."""
    for candidate in (path, *path.parents):
        if candidate.is_dir() and _is_repository(candidate):
            return candidate, path.relative_to(candidate).as_posix().strip(".")
    return None


def is_git(source: str) -> bool:
    """Whether ``source`` names a git source (rather than a folder or a bare name)."""
    if SCHEME.match(source) or SCP.match(source):
        return True
    path, _ = split_ref(source)
    return path.startswith(("/", "./", "../", "~")) and local_repository(Path(path).expanduser()) is not None


def git_name(source: str) -> str:
    """The default name of a git source: its last path part, without ``@ref`` or ``.git``."""
    path, _ = split_ref(source)
    return path.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1].removesuffix(".git")


def locate(source: str, *, baseurl: Callable[[], str] | None = None) -> Path | str:
    """What ``micro run SOURCE`` runs: the folder (an existing folder always wins, as given:
    not resolved), else the git source, a bare name completed with ``baseurl()`` (read only
    when needed: ``micro user config set git.baseurl``).

    Raises:
        BadRequest: neither a folder nor git.
    """
    folder = Path(source).expanduser()
    if folder.is_dir():
        return folder
    if is_git(source):
        return source
    base = baseurl() if baseurl is not None else ""
    if base and _BARE.match(source):
        return f"{base.rstrip('/')}/{source}"
    raise errors.BadRequest(f"Source folder {source} does not exist")


@dataclass(frozen=True)
class Credentials:
    """A user name and password (or token) for a clone; never stored, never shown."""

    username: str = ""
    password: str = ""

    def __bool__(self) -> bool:
        return bool(self.username or self.password)

    def __repr__(self) -> str:  # never the secret, even in a traceback or a debug log
        return f"Credentials(username={self.username!r}, password=***)"


def split_credentials(url: str) -> tuple[str, Credentials]:
    """``url`` without its ``user:password@``, and those credentials (unquoted)."""
    match = re.match(r"^([a-z][a-z0-9+.-]*://)([^/@\s]+)@(.*)$", url, re.I)
    if match is None:
        return url, Credentials()
    user, _, password = match.group(2).partition(":")
    return match.group(1) + match.group(3), Credentials(unquote(user), unquote(password))


# -- the folder's entry point ------------------------------------------------------------------


class BuildError(errors.BadRequest):
    """The source cannot be built or started; the detail is the reason (one line), the one
    the server's status shows."""


def entry_point(folder: Path) -> list[str]:
    """The arguments after ``python`` that start the service in ``folder``: ``main.py``, or
    ``[tool.micro] entrypoint`` of its ``pyproject.toml``, or ``-m <package>``.

    Raises:
        BuildError: there is none, or pyproject.toml names one that does not exist.
    """
    pyproject = folder / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise BuildError(f"pyproject.toml is not valid TOML: {exc}") from None
        entry = data.get("tool", {}).get("micro", {}).get("entrypoint")
        if isinstance(entry, str) and entry:
            if entry.endswith(".py"):
                if not (folder / entry).is_file():
                    raise BuildError(f"the entry point {entry} of pyproject.toml does not exist")
                return [entry]
            return ["-m", entry]
    if (folder / "main.py").is_file():
        return ["main.py"]
    packages = [p.parent.name for p in folder.glob("*/__main__.py")]
    if len(packages) == 1:
        return ["-m", packages[0]]
    raise BuildError(
        "no entry point: main.py, [tool.micro] entrypoint in pyproject.toml or a package's __main__.py"
    )


def check_runnable(folder: Path) -> None:
    """Refuse, before anything is uploaded or created, a folder the server could not start
    (``folder`` as the user gave it: it is named so in the line).

    Raises:
        BadRequest: the folder is empty or has no entry point.
    """
    if not any(folder.iterdir()):
        raise errors.BadRequest(f"Source folder {folder} is empty")
    try:
        entry_point(folder)
    except BuildError as exc:
        raise errors.BadRequest(f"Cannot run {folder}: {exc.detail}") from None


# -- packing -----------------------------------------------------------------------------------


@dataclass
class Packed:
    """A project packed for upload."""

    root: Path
    subfolder: str  # the service's folder inside root ("" = root), with "/"
    data: bytes  # the tar.gz
    files: int


def find_root(folder: Path) -> Path:
    """The project root of ``folder``: the nearest folder up with ``.git`` or
    ``pyproject.toml``, else ``folder``."""
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists() or (candidate / "pyproject.toml").is_file():
            return candidate
    return folder


def _git_files(root: Path) -> list[str] | None:
    if not (root / ".git").exists() or shutil.which("git") is None:
        return None
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-co", "--exclude-standard", "-z"],
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return [name for name in done.stdout.decode(errors="surrogateescape").split("\0") if name]


def _ignored(rel: str, is_dir: bool, rules: list[tuple[str, list[str]]]) -> bool:
    """Whether ``rel`` (relative to the root, with /) matches a .gitignore rule (the last
    matching rule wins; ``!`` negates)."""
    verdict = False
    for base, patterns in rules:
        if base and not rel.startswith(base + "/"):
            continue
        local = rel[len(base) + 1 :] if base else rel
        name = local.rsplit("/", 1)[-1]
        for raw in patterns:
            negate = raw.startswith("!")
            pattern = raw[1:] if negate else raw
            if pattern.endswith("/"):
                if not is_dir:
                    continue
                pattern = pattern.rstrip("/")
            anchored = "/" in pattern
            target = local if anchored else name
            if fnmatch.fnmatchcase(target, pattern.lstrip("/")):
                verdict = not negate
    return verdict


def _walk_files(root: Path) -> list[str]:
    rules: list[tuple[str, list[str]]] = []
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        base = "" if here == root else here.relative_to(root).as_posix()
        ignore = here / ".gitignore"
        if ignore.is_file():
            lines = [
                line.strip()
                for line in ignore.read_text(errors="replace").splitlines()
                if line.strip() and not line.startswith("#")
            ]
            rules.append((base, lines))
        kept = []
        for d in sorted(dirnames):
            rel = f"{base}/{d}" if base else d
            if d in _ALWAYS_OUT or _ignored(rel, True, rules):
                continue
            kept.append(d)
        dirnames[:] = kept
        for f in sorted(filenames):
            rel = f"{base}/{f}" if base else f
            if not _ignored(rel, False, rules):
                found.append(rel)
    return found


def pack(folder: Path, limit: int = LIMIT) -> Packed:
    """Pack the project of ``folder`` (blocking: a thread in async code).

    Raises:
        BadRequest: the folder does not exist or is empty, or the files are over ``limit``.
    """
    if not folder.is_dir():
        raise errors.BadRequest(f"Source folder {folder} does not exist")
    folder = folder.resolve()
    root = find_root(folder)
    names = _git_files(root)
    if names is None:
        names = _walk_files(root)
    names = [
        n
        for n in names
        if not _ALWAYS_OUT.intersection(n.split("/")[:-1])
        and (root / n).is_file()
        and not (root / n).is_symlink()
    ]
    subfolder = "" if folder == root else folder.relative_to(root).as_posix()
    inside = [n for n in names if not subfolder or n.startswith(subfolder + "/")]
    if not inside:
        raise errors.BadRequest(f"Source folder {folder} is empty (or every file in it is ignored)")
    total = sum((root / n).stat().st_size for n in names)
    if total > limit:
        raise errors.BadRequest(
            f"The project at {root} is {total / (1024 * 1024):.1f} MiB, over the upload limit of "
            f"{limit // (1024 * 1024)} MiB (add what the service does not need to .gitignore)"
        )
    buffer = io.BytesIO()
    # the same files pack to the same bytes (no time in the gzip header, names in order), so
    # an unchanged project has the same content hash and its build can be reused
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=6, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w") as tar,
    ):
        for name in sorted(names):
            tar.add(root / name, arcname=name, recursive=False)
    data = buffer.getvalue()
    if len(data) > limit:
        raise errors.BadRequest(
            f"The project at {root} packs to {len(data) / (1024 * 1024):.1f} MiB, over the upload limit"
        )
    return Packed(root=root, subfolder=subfolder, data=data, files=len(names))


async def chunks(data: bytes) -> AsyncIterator[bytes]:
    """``data`` in the pieces ``Source.Upload`` streams (a blob's chunk size)."""
    from micro.store.blob import CHUNK_BYTES

    for start in range(0, len(data), CHUNK_BYTES):
        yield data[start : start + CHUNK_BYTES]
