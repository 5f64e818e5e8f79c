"""The config service over gRPC: the default :class:`~micro.config.Config` inside services.

Values travel as JSON text in ``config.Value.data``. Without an explicit ``channel`` the
client opens one per running event loop, so it keeps working across ``asyncio.run`` calls.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import grpc

from micro import errors
from micro._grpc import aio_channel, call_metadata, rpc_errors
from micro.config import Change, Config
from micro.proto.config import config_pb2, config_pb2_grpc

__all__ = ["GrpcConfig"]

SERVICE = "config"


class GrpcConfig(Config):
    def __init__(
        self,
        address: str,
        *,
        namespace: str = "",
        token: str | None = None,
        channel: grpc.aio.Channel | None = None,
    ) -> None:
        self.address = address
        self.namespace = namespace
        self.token = token
        self._channel = channel
        self._owned: dict[asyncio.AbstractEventLoop, tuple[grpc.aio.Channel, Any]] = {}

    def _stub(self) -> Any:
        if self._channel is not None:
            return config_pb2_grpc.ConfigStub(self._channel)
        loop = asyncio.get_running_loop()
        for stale in [other for other in self._owned if other.is_closed()]:
            del self._owned[stale]
        entry = self._owned.get(loop)
        if entry is None:
            channel = aio_channel(self.address)
            entry = (channel, config_pb2_grpc.ConfigStub(channel))
            self._owned[loop] = entry
        return entry[1]

    def _metadata(self, namespace: str) -> tuple[tuple[str, str], ...]:
        return call_metadata(namespace=namespace or self.namespace, token=self.token, service=SERVICE)

    async def get(self, path: str = "", *, namespace: str = "", secret: bool = False) -> Any:
        request = config_pb2.GetRequest(
            namespace=namespace, path=path, options=config_pb2.Options(secret=secret)
        )
        with rpc_errors(self.address):
            response = await self._stub().Get(request, metadata=self._metadata(namespace))
        return _decode(response.value.data)

    async def set(self, path: str, value: Any, *, namespace: str = "", secret: bool = False) -> None:
        try:
            data = json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise errors.BadRequest(f"value is not JSON: {exc}") from exc
        try:
            data.encode()
        except UnicodeEncodeError:  # protobuf would refuse it with a traceback
            raise errors.BadRequest(
                "invalid value: a string holds a lone surrogate (not Unicode text)"
            ) from None
        request = config_pb2.SetRequest(
            namespace=namespace,
            path=path,
            value=config_pb2.Value(data=data, format="json"),
            options=config_pb2.Options(secret=secret),
        )
        with rpc_errors(self.address):
            await self._stub().Set(request, metadata=self._metadata(namespace))

    async def delete(self, path: str, *, namespace: str = "") -> None:
        request = config_pb2.DeleteRequest(namespace=namespace, path=path)
        with rpc_errors(self.address):
            await self._stub().Delete(request, metadata=self._metadata(namespace))

    async def watch(self, path: str = "", *, namespace: str = "") -> AsyncIterator[Change]:
        request = config_pb2.WatchRequest(namespace=namespace, path=path)
        call = self._stub().Watch(request, metadata=self._metadata(namespace))
        try:
            with rpc_errors(self.address):
                async for response in call:
                    yield _change(response)
        finally:
            call.cancel()

    async def close(self) -> None:
        owned, self._owned = self._owned, {}
        loop = asyncio.get_running_loop()
        entry = owned.get(loop)
        if entry is not None:
            await entry[0].close()


def _decode(data: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as exc:
        raise errors.InternalServerError(f"config service sent invalid JSON: {exc}") from exc


def _change(response: config_pb2.WatchResponse) -> Change:
    return Change(
        path=response.path,
        value=None if response.deleted else _decode(response.value.data),
        deleted=response.deleted,
        timestamp=datetime.fromtimestamp(response.timestamp / 1e9, UTC),
    )
