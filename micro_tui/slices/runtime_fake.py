"""The fake runtime slice (tests and snapshots): three services in fixed states; a run goes
through ``pending → building → starting → running`` as its progress is read."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

from micro import errors
from micro.runtime import Service, check_name
from micro_tui.fake import FakeSession

__all__ = ["FakeRuntime"]

_STEPS = ("building", "starting", "running")


def _fixture(now: float) -> dict[str, Service]:
    meta = {"owner": "admin", "group": ""}
    return {
        s.name: s
        for s in (
            Service("billing", "latest", "/home/dev/billing", "running", "", meta, int(now - 3 * 3600 - 60),
                    2, 3, "9c1e5a77d0b2"),
            Service("broken", "latest", "https://github.com/acme/broken", "error",
                    "exited with status 1 (5 restarts)", meta, int(now - 8 * 60 - 5), 1, 5, "4f00d3a1c2e9"),
            Service("helloworld", "latest", "/home/dev/helloworld", "running", "", meta,
                    int(now - 2 * 86400 - 3600), 1, 0, "1b2c3d4e5f60"),
        )
    }  # fmt: skip


class FakeRuntime:
    """``billing`` (2 instances, 3 restarts), ``broken`` (error), ``helloworld``."""

    def __init__(self, session: FakeSession) -> None:
        self._session = session
        self.services: dict[str, Service] = _fixture(time.time())
        self.killed: list[str] = []

    async def status(self) -> list[Service]:
        self._session.check()
        return [replace(s) for _, s in sorted(self.services.items())]

    async def run(self, source: str, *, name: str = "", instances: int = 1) -> Service:
        self._session.check()
        if instances < 1:
            raise errors.BadRequest(f"instances must be at least 1: {instances}")
        folder = Path(source).expanduser()
        if folder.is_dir():
            default = folder.resolve().name
        elif "://" in source or source.startswith("git@"):
            default = source.rstrip("/").rsplit("/", 1)[-1].split("@", 1)[0].removesuffix(".git")
        else:
            raise errors.BadRequest(f"Source folder {source} does not exist")
        service_name = check_name(name or default)
        if service_name in self.services:
            raise errors.Conflict(
                f"service {service_name} is already running: "
                f"micro update {service_name}, or micro kill {service_name}"
            )
        recorded = str(folder.resolve()) if folder.is_dir() else source
        meta = {"owner": "admin", "group": ""}
        created = Service(service_name, "latest", recorded, "pending", "", meta, int(time.time()), instances)
        self.services[service_name] = created
        return replace(created)

    async def progress(self, name: str, *, since: float) -> AsyncIterator[str]:
        self._session.check()
        yield "pending"
        for step in _STEPS:
            await asyncio.sleep(0)
            service = self.services.get(name)
            if service is None:
                raise errors.NotFound(f"service {name} not found")
            service.status, service.updated = step, int(time.time())
            if step == "building":
                yield "building"
                yield "creating the virtual environment"
            else:
                yield step

    async def update(self, name: str, *, instances: int = 0) -> Service:
        self._session.check()
        service = self.services.get(name)
        if service is None:
            raise errors.NotFound(f"service {name} not found")
        if instances < 0:
            raise errors.BadRequest(f"instances must be at least 1: {instances}")
        if instances:
            service.instances = instances
        service.status, service.updated, service.retries = "pending", int(time.time()), 0
        return replace(service)

    async def kill(self, name: str) -> None:
        self._session.check()
        if self.services.pop(name, None) is None:
            raise errors.NotFound(f"service {name} not found")
        self.killed.append(name)
