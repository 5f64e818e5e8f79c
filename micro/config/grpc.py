"""The config service over gRPC: the default :class:`~micro.config.Config` inside services.

Values travel as JSON text in ``config.Value.data``. Without an explicit ``channel`` the
client opens one per running event loop, so it keeps working across ``asyncio.run`` calls.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from micro import errors
from micro._grpc import call_metadata, rpc_errors
from micro._grpc_client import GrpcClient
from micro.config import Change, Config
from micro.proto.config import config_pb2, config_pb2_grpc

__all__ = ["GrpcConfig"]

SERVICE = "config"
_STUB = config_pb2_grpc.ConfigStub


class GrpcConfig(GrpcClient, Config):
    """A :class:`~micro.config.Config` served by the config service at ``address`` (one
    channel per running event loop, unless ``channel`` is given)."""

    per_loop = True

    def _metadata_for(self, namespace: str) -> tuple[tuple[str, str], ...]:
        return call_metadata(namespace=namespace or self.namespace, token=self._token, service=SERVICE)

    async def get(self, path: str = "", *, namespace: str = "", secret: bool = False) -> Any:
        request = config_pb2.GetRequest(
            namespace=namespace, path=path, options=config_pb2.Options(secret=secret)
        )
        response = await self._call(_STUB, "Get", request, metadata=self._metadata_for(namespace))
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
        await self._call(_STUB, "Set", request, metadata=self._metadata_for(namespace))

    async def delete(self, path: str, *, namespace: str = "") -> None:
        request = config_pb2.DeleteRequest(namespace=namespace, path=path)
        await self._call(_STUB, "Delete", request, metadata=self._metadata_for(namespace))

    async def watch(self, path: str = "", *, namespace: str = "") -> AsyncIterator[Change]:
        request = config_pb2.WatchRequest(namespace=namespace, path=path)
        call = self._stub(_STUB).Watch(request, metadata=self._metadata_for(namespace))
        try:
            with rpc_errors(self.address):
                async for response in call:
                    yield _change(response)
        finally:
            call.cancel()


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
