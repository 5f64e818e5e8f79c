"""The config slice over a real server (the framework's config client)."""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import AsyncIterator
from typing import Any

from micro_tui.real import RealSession
from micro_tui.slices.config import ConfigChange

__all__ = ["RealConfig"]

_GRPC_CONFIG = "micro.config.grpc"


class RealConfig:
    """One config client per call (a watch keeps its own while it runs), in the session's
    env, namespace and login at the time of the call."""

    def __init__(self, session: RealSession) -> None:
        self._session = session

    async def _client(self) -> Any:
        if _GRPC_CONFIG not in sys.modules:  # grpc and protobuf (~150 ms) off the event loop
            await asyncio.to_thread(importlib.import_module, _GRPC_CONFIG)
        from micro.config.grpc import GrpcConfig

        session = self._session
        return GrpcConfig(session.address, namespace=session.namespace, token=session.token)

    async def document(self) -> dict[str, Any]:
        found = await self._call(lambda c: c.get(""))
        return found if isinstance(found, dict) else {}

    async def get(self, path: str, *, secret: bool = False) -> Any:
        return await self._call(lambda c: c.get(path, secret=secret))

    async def set(self, path: str, value: Any, *, secret: bool = False) -> None:
        await self._call(lambda c: c.set(path, value, secret=secret))

    async def delete(self, path: str) -> None:
        await self._call(lambda c: c.delete(path))

    async def _call(self, do: Any) -> Any:
        client = await self._client()
        try:
            return await do(client)
        finally:
            await client.close()

    async def watch(self) -> AsyncIterator[ConfigChange]:
        client = await self._client()
        changes = client.watch("")
        try:
            async for change in changes:
                yield ConfigChange(change.path, change.value, change.deleted)
        finally:
            await changes.aclose()
            await client.close()
