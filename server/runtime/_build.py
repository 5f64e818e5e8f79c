"""Builds of runtime services: the source unpacked, protobuf code generated, a venv ready.

Everything lives under ``MICRO_HOME/runtime``: ``builds/<namespace>/<name>/<hash>/`` holds
one unpacked source (by content hash: a rebuild of the same source reuses it), and
``venvs/<requirements hash>/`` one venv per set of requirements, shared by every service
that needs the same. A venv sees the platform's own packages through a ``.pth`` file (a
venv made from inside a venv with ``--system-site-packages`` would see the base interpreter
instead); it is made without pip, and the platform's pip installs requirements into it only
when there are any. Both are made in a temporary folder and renamed into place, so a build
cut short (the server killed) leaves nothing half made. The entry point of a folder and
:class:`BuildError` are the framework's (:mod:`micro.runtime.source`): the CLI and the
workspace check a folder by the same rule before they upload it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import signal
import site
import sys
import sysconfig
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from micro import settings
from micro.runtime.source import BuildError, entry_point

__all__ = ["DIES_WITH_SERVER", "BuildError", "Builder", "entry_point"]

Progress = Callable[[str], None]

#: what every child of the runtime is started through: it gets SIGKILL when the server dies
DIES_WITH_SERVER = ("setpriv", "--pdeathsig", "KILL", "--")


def _requirements(folder: Path) -> str:
    """The requirement lines of ``folder/requirements.txt`` (comments and blanks left out)."""
    path = folder / "requirements.txt"
    if not path.is_file():
        return ""
    lines = []
    for raw in path.read_text(errors="replace").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return "\n".join(lines)


def _platform_paths() -> list[str]:
    """The site-packages folders of the platform's interpreter (where micro is installed)."""
    paths = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    paths.update(p for p in site.getsitepackages() if p.startswith(sys.prefix))
    return sorted(p for p in paths if os.path.isdir(p))


class Builder:
    """Unpacks sources and makes venvs under ``folder`` (``MICRO_HOME/runtime``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._venv_locks: dict[str, asyncio.Lock] = {}

    def source_dir(self, namespace: str, name: str, build: str) -> Path:
        return self.folder / "builds" / namespace / name / build

    async def unpack(self, archive: Path, namespace: str, name: str, build: str) -> Path:
        """Unpack ``archive`` (tar.gz) once per content hash ``build``; returns the folder."""
        target = self.source_dir(namespace, name, build)
        if target.is_dir():
            return target
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(dir=target.parent, prefix=".unpack-"))
        try:
            await asyncio.to_thread(_extract, archive, scratch)
            os.replace(scratch, target)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        return target

    async def generate(self, folder: Path) -> None:
        """Generate the code of ``folder/proto/*.proto`` when it is missing or older than the
        .proto (with the service's ``generate.py`` when it has one, as ``micro new`` does)."""
        proto = folder / "proto"
        stale = [
            p
            for p in proto.glob("*.proto")
            if not (proto / f"{p.stem}_pb2.py").exists()
            or (proto / f"{p.stem}_pb2.py").stat().st_mtime < p.stat().st_mtime
        ]
        if not stale:
            return
        if (folder / "generate.py").is_file():
            argv = [sys.executable, "generate.py"]
        else:
            argv = [
                sys.executable,
                "-m",
                "grpc_tools.protoc",
                f"-I{proto}",
                f"--python_out={proto}",
                f"--grpc_python_out={proto}",
                *(str(p) for p in stale),
            ]
        code, output = await _run(argv, folder)
        if code != 0:
            last = output.strip().splitlines()[-1:] or [f"exit status {code}"]
            raise BuildError(f"generating the protobuf code failed: {last[0]}")

    async def venv(self, folder: Path, progress: Progress) -> Path:
        """The venv for the requirements of ``folder`` (made once per requirements hash)."""
        wanted = _requirements(folder)
        key = hashlib.sha256(f"{sys.version}\n{sys.prefix}\n{wanted}".encode()).hexdigest()[:16]
        target = self.folder / "venvs" / key
        lock = self._venv_locks.setdefault(key, asyncio.Lock())
        async with lock:
            if (target / "ready").exists():
                return target
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            shutil.rmtree(target, ignore_errors=True)
            progress("creating the venv")
            code, output = await _run([sys.executable, "-m", "venv", "--without-pip", str(target)], folder)
            if code != 0:
                shutil.rmtree(target, ignore_errors=True)
                raise BuildError(f"creating the venv failed: {_last(output, code)}")
            purelib = _venv_site(target)
            lines = [f"import site; site.addsitedir({p!r})" for p in _platform_paths()]
            (purelib / "_micro_platform.pth").write_text("\n".join(lines) + "\n")
            if wanted:
                progress("installing requirements.txt")
                argv = [
                    sys.executable, "-m", "pip", "--python", str(target / "bin" / "python"),
                    "install", "--disable-pip-version-check", "--no-input", "-q",
                    "-r", str(folder / "requirements.txt"),
                ]  # fmt: skip
                code, output = await _run(argv, folder)
                if code != 0:
                    shutil.rmtree(target, ignore_errors=True)
                    raise BuildError(f"installing requirements.txt failed: {_last(output, code)}")
            (target / "ready").write_text(wanted)
        return target


def _venv_site(venv: Path) -> Path:
    found = list((venv / "lib").glob("python3*/site-packages"))
    if not found:
        raise BuildError("the new venv has no site-packages folder")
    return found[0]


def _extract(archive: Path, target: Path) -> None:
    """Unpack an uploaded source into ``target``: regular files and folders only, each inside
    ``target`` (no absolute path, no ``..``, no link, device or fifo), written without
    set-id bits. By hand rather than ``extractall(filter="data")``: Python 3.11 before 3.11.4
    (Debian 12's 3.11.2) has no ``filter``, and every ``micro run`` failed there."""
    root = target.resolve()
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                name = member.name
                parts = PurePosixPath(name).parts
                if not name or name.startswith("/") or ".." in parts or "\x00" in name:
                    raise BuildError(f"the uploaded source has a file outside its folder: {name[:200]!r}")
                path = (root / name).resolve()
                if not path.is_relative_to(root):
                    raise BuildError(f"the uploaded source has a file outside its folder: {name[:200]!r}")
                if member.isdir():
                    path.mkdir(mode=0o755, parents=True, exist_ok=True)
                    continue
                if not member.isfile():
                    raise BuildError(f"the uploaded source has a link or special file: {name[:200]!r}")
                path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None  # a regular file has its data
                mode = 0o755 if member.mode & 0o111 else 0o644
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
                with source, open(fd, "wb") as out:
                    shutil.copyfileobj(source, out)
                # the times as packed: a .proto newer than its generated code is regenerated
                os.utime(path, (member.mtime, member.mtime))
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BuildError(f"the uploaded source is not a valid archive: {exc}") from None


def _last(output: str, code: int) -> str:
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    errors_ = [line for line in lines if line.startswith("ERROR")]
    return (errors_ or lines or [f"exit status {code}"])[-1]


async def _run(argv: list[str], cwd: Path) -> tuple[int, str]:
    """Run ``argv`` in ``cwd``; its exit status and its output (stdout and stderr)."""
    env = settings.foreign_env()
    # dies with the server, like the services (a build cut short by kill -9 leaves nothing)
    proc = await asyncio.create_subprocess_exec(
        *DIES_WITH_SERVER,
        *argv,
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
