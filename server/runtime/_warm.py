"""Interpreters started ahead: an instance starts without waiting for Python and the platform.

Most of the time a service takes to start is its interpreter importing the framework (grpc,
protobuf, the JWT and crypto code the guard uses: ~100 ms, several times that on a loaded
machine) before any of its own code runs. The runtime keeps, for each venv recently used,
one *warm* interpreter (:mod:`server.runtime._boot`) that did exactly that and waits on its
stdin: started like an
instance (``setpriv --pdeathsig KILL``, a session of its own, stdout and stderr piped,
``PYTHONUNBUFFERED=1``), it reads one JSON line — the instance's working folder, environment
and arguments — then sets them and runs the entry point as ``python main.py`` (or ``-m``)
would. The supervisor adopts it as the instance; once the service runs, another warm one
is started for the next start (an update, a crash's restart, another service of the venv).

Nothing is forked (so nothing of grpc's threads is copied), no file descriptor is passed, no
secret is on a command line: the request holds paths and the environment, through a pipe.
An instance whose environment changes how an interpreter starts (``PYTHON*``, ``LD_*``,
grpc's own variables, the locale, the time zone…) and a ``--command`` start cold. A warm
interpreter costs no CPU while it waits; at most :data:`KEEP` are kept (the least recently
used goes first), and they die with the server like every child of the runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

from server.runtime._build import DIES_WITH_SERVER

__all__ = ["KEEP", "WarmPool", "warmable"]

#: warm interpreters kept at once (one per venv)
KEEP = 4

#: environment variables read when an interpreter (or grpc, or the C library) starts — its
#: paths, stdio encoding (the locale), time zone, allocator, TLS roots: an instance given one
#: starts cold
_AT_START = ("PYTHON", "LD_", "GRPC_", "MALLOC", "SSL_", "OPENSSL", "LC_", "LANG", "TZ")


def warmable(argv: list[str], python: str, env: Mapping[str, str]) -> bool:
    """Whether an instance running ``argv`` with ``env`` may start from a warm interpreter of
    ``python`` (the venv's): its own entry point, and nothing that changes how an
    interpreter starts."""
    return bool(argv) and argv[0] == python and not any(k.startswith(_AT_START) for k in env)


class WarmPool:
    """One warm interpreter per venv, at most :data:`KEEP`."""

    def __init__(self, limit: int = 1024 * 1024) -> None:
        self._limit = limit
        self._ready: OrderedDict[Path, asyncio.subprocess.Process] = OrderedDict()
        self._starting: dict[Path, asyncio.Task[None]] = {}
        self._closed = False

    async def take(
        self, venv: Path, cwd: Path, env: Mapping[str, str], argv: list[str]
    ) -> asyncio.subprocess.Process | None:
        """The warm interpreter of ``venv``, told to run ``argv`` (without the python) in
        ``cwd`` with ``env``; None when there is none (start cold)."""
        proc = self._ready.pop(venv, None)
        if proc is None or proc.returncode is not None or proc.stdin is None:
            return None
        request = json.dumps({"cwd": str(cwd), "env": dict(env), "argv": argv}) + "\n"
        try:
            proc.stdin.write(request.encode())
            await proc.stdin.drain()
            proc.stdin.close()
        except (BrokenPipeError, ConnectionResetError):
            await _kill(proc)
            return None
        return proc

    def prepare(self, venv: Path, base: Mapping[str, str]) -> None:
        """Start a warm interpreter of ``venv`` in the background (with ``base``, the
        environment every instance of it starts with), unless one is there. Called once an
        instance runs: a warm interpreter importing beside a cold start would slow it."""
        if self._closed or venv in self._ready or venv in self._starting:
            return
        task = asyncio.create_task(self._start(venv, dict(base)))
        self._starting[venv] = task
        task.add_done_callback(lambda _: self._starting.pop(venv, None))

    async def _start(self, venv: Path, base: dict[str, str]) -> None:
        try:
            proc = await asyncio.create_subprocess_exec(
                *DIES_WITH_SERVER,
                str(venv / "bin" / "python"),
                str(Path(__file__).with_name("_boot.py")),
                cwd=venv,
                env=base,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                limit=self._limit,
            )
        except OSError:
            return  # instances start cold
        if self._closed:
            await _kill(proc)
            return
        self._ready[venv] = proc
        while len(self._ready) > KEEP:
            _, oldest = self._ready.popitem(last=False)
            await _kill(oldest)

    async def close(self) -> None:
        self._closed = True
        for task in list(self._starting.values()):
            task.cancel()
        await asyncio.gather(*self._starting.values(), return_exceptions=True)
        procs, self._ready = list(self._ready.values()), OrderedDict()
        await asyncio.gather(*(_kill(p) for p in procs), return_exceptions=True)


async def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    await proc.wait()
