"""The runtime slice over a real server: the framework's :class:`~micro.runtime.grpc.GrpcRuntime`.

A folder is checked, packed and uploaded exactly as ``micro run`` does it (with
:mod:`micro.runtime.source`: the same refusals in the same words, ``Source.Upload`` in
chunks), a git URL is cloned by the server; packing runs in a thread so the workspace keeps
answering keys meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from micro import errors
from micro.runtime import Service, check_name
from micro.runtime import source as sources
from micro_tui.real import RealSession, SessionClient
from micro_tui.slices.runtime import DONE

if TYPE_CHECKING:
    from micro.runtime.grpc import GrpcRuntime

__all__ = ["RealRuntime"]

POLL_SECONDS = 0.25
"""How often a run's progress asks for the service's status."""


def _pack(folder: Path) -> sources.Packed:
    """``micro run``'s packing of ``folder``, its checks first (BadRequest, one line)."""
    sources.check_runnable(folder)
    return sources.pack(folder)


class RealRuntime:
    """One runtime client per env + namespace + login, made again when one of them changes."""

    def __init__(self, session: RealSession) -> None:
        self._session = session
        self._clients: SessionClient[GrpcRuntime] = SessionClient(
            session, "micro.runtime.grpc", "GrpcRuntime"
        )

    async def _runtime(self) -> GrpcRuntime:
        return await self._clients.get()

    async def status(self) -> list[Service]:
        found = await (await self._runtime()).read()
        return sorted(found, key=lambda s: (s.name, s.version))

    async def run(self, source: str, *, name: str = "", instances: int = 1) -> Service:
        if instances < 1:
            raise errors.BadRequest(f"instances must be at least 1: {instances}")
        folder = sources.locate(source)
        runtime = await self._runtime()
        if isinstance(folder, str):
            service = Service(name=check_name(name or sources.git_name(folder)), source=folder)
            return await runtime.create(service, instances=instances)
        service_name = check_name(name or folder.resolve().name)
        packed = await asyncio.to_thread(_pack, folder)
        upload = await runtime.upload(service_name, sources.chunks(packed.data))
        service = Service(name=service_name, source=str(folder.resolve()))
        return await runtime.create(service, upload=upload, subfolder=packed.subfolder, instances=instances)

    async def progress(self, name: str, *, since: float) -> AsyncIterator[str]:
        runtime = await self._runtime()
        lines: list[str] = []
        wake = asyncio.Event()

        async def follow() -> None:
            # the runtime's own lines (venv, requirements, instances started); the server's
            # bound is whole seconds, so the lines before ``since`` are left out here
            with contextlib.suppress(errors.MicroError):
                async for batch in runtime.logs(name, count=-1, follow=True, since=since):
                    for record in batch.records:
                        if record.stream == "runtime" and record.ts >= since * 1e9:
                            lines.append(record.line)
                            wake.set()

        following = asyncio.create_task(follow())
        shown = ""
        try:
            while True:
                try:
                    found = await runtime.read(name)
                except errors.NotFound:
                    found = []  # killed meanwhile
                wake.clear()
                shown_lines, lines[:] = list(lines), []
                for line in shown_lines:
                    yield line
                status = found[0].status if found else "stopped"
                if status != shown:
                    shown = status
                    yield f"{status}: {found[0].error}" if status == "error" and found else status
                if status in DONE:
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), POLL_SECONDS)
        finally:
            following.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await following

    async def update(self, name: str, *, instances: int = 0) -> Service:
        if instances < 0:
            raise errors.BadRequest(f"instances must be at least 1: {instances}")
        return await (await self._runtime()).update(name, instances=instances)

    async def kill(self, name: str) -> None:
        await (await self._runtime()).delete(name)
