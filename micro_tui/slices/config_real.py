"""The config slice over a real server (the framework's config client)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from micro_tui.real import RealSession, new_client
from micro_tui.slices.config import ConfigChange

__all__ = ["RealConfig"]


class RealConfig:
    """One config client per call (a watch keeps its own while it runs), in the session's
    env, namespace and login at the time of the call."""

    def __init__(self, session: RealSession) -> None:
        self._session = session

    async def _client(self) -> Any:
        return await new_client(self._session, "micro.config.grpc", "GrpcConfig")

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
