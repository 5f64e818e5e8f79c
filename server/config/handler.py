"""The config service's gRPC servicer: protobuf ⇄ domain and input validation, nothing else.

Values travel as JSON text in ``config.Value.data``. Errors are raised as
:class:`~micro.errors.MicroError`; the server's ErrorInterceptor turns them into gRPC status.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from micro import errors
from micro.config import Change, Config
from micro.proto.config import config_pb2, config_pb2_grpc
from micro.settings import limits
from server.auth import context as ctx
from server.auth.context import Permission, Policy
from server.limits import WATCHES, check_length

__all__ = ["PERMISSIONS", "ConfigHandler"]


def _request_namespace(request: Any) -> str:
    return str(request.namespace)


# every config call needs an admin or a service account of the namespace; rules narrow it
PERMISSIONS = {
    f"/config.Config/{method}": Permission(Policy.ADMIN_OR_SERVICE, _request_namespace)
    for method in ("Get", "Set", "Delete", "Read", "Watch")
}

_INLINE_BYTES = 64 * 1024


def _encode(value: Any) -> config_pb2.Value:
    return config_pb2.Value(data=json.dumps(value, ensure_ascii=False), format="json")


def _decode(value: config_pb2.Value) -> Any:
    if value.format not in ("", "json"):
        raise errors.BadRequest(f"unsupported value format {value.format!r} (json)")
    if not value.data:
        raise errors.BadRequest("value is required")
    try:
        return json.loads(value.data)
    except ValueError as exc:
        raise errors.BadRequest(f"invalid JSON value: {exc}") from exc
    except RecursionError:  # hundreds of levels: far past the limit check_value applies
        raise errors.BadRequest(f"value nested too deeply (limit {limits().config_depth} levels)") from None


def _change_to_proto(change: Change) -> config_pb2.WatchResponse:
    response = config_pb2.WatchResponse(
        path=change.path,
        deleted=change.deleted,
        timestamp=int(change.timestamp.timestamp() * 1_000_000) * 1000,
    )
    if not change.deleted:
        response.value.CopyFrom(_encode(change.value))
    return response


class ConfigHandler(config_pb2_grpc.ConfigServicer):
    """Serves :class:`~micro.config.Config` ``config`` as the ``config.Config`` gRPC service."""

    def __init__(self, config: Config) -> None:
        self.config = config

    def _namespace(self, context: Any, requested: str) -> str:
        """The namespace a call works on: the requested one, else the caller's, else ``micro``
        (decided and checked by the call boundary)."""
        check_length("namespace", requested)
        return ctx.namespace(context, requested)

    async def Get(self, request: config_pb2.GetRequest, context: Any) -> config_pb2.GetResponse:
        value = await self.config.get(
            request.path,
            namespace=self._namespace(context, request.namespace),
            secret=request.options.secret,
        )
        return config_pb2.GetResponse(value=_encode(value))

    async def Set(self, request: config_pb2.SetRequest, context: Any) -> config_pb2.SetResponse:
        namespace = self._namespace(context, request.namespace)
        # a value may be up to 1 MiB of JSON: parsed in a worker thread when large
        value = (
            _decode(request.value)
            if len(request.value.data) < _INLINE_BYTES
            else await asyncio.to_thread(_decode, request.value)
        )
        await self.config.set(request.path, value, namespace=namespace, secret=request.options.secret)
        return config_pb2.SetResponse()

    async def Delete(self, request: config_pb2.DeleteRequest, context: Any) -> config_pb2.DeleteResponse:
        await self.config.delete(request.path, namespace=self._namespace(context, request.namespace))
        return config_pb2.DeleteResponse()

    async def Read(self, request: config_pb2.ReadRequest, context: Any) -> config_pb2.ReadResponse:
        """The (masked) document at ``path`` as a v3-style change set; empty when missing."""
        try:
            value = await self.config.get(request.path, namespace=self._namespace(context, request.namespace))
        except errors.NotFound:
            value = {}
        data = json.dumps(value, ensure_ascii=False)
        return config_pb2.ReadResponse(
            change_set=config_pb2.ChangeSet(
                data=data,
                checksum=hashlib.sha256(data.encode()).hexdigest(),
                format="json",
                source="config",
                timestamp=time.time_ns(),
            )
        )

    async def Watch(
        self, request: config_pb2.WatchRequest, context: Any
    ) -> AsyncIterator[config_pb2.WatchResponse]:
        namespace = self._namespace(context, request.namespace)
        with WATCHES.hold(context):
            changes = self.config.watch(request.path, namespace=namespace)
            # subscribed: let the caller know the watch is live before the first change
            await context.send_initial_metadata(())
            try:
                async for change in changes:
                    yield _change_to_proto(change)
            finally:
                aclose = getattr(changes, "aclose", None)
                if aclose is not None:
                    await aclose()
