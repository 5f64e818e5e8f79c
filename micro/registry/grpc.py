"""The registry over gRPC: what services and the CLI use to reach a micro server's registry."""

from __future__ import annotations

import asyncio
import math
from typing import Any, Self

import grpc

from micro import errors
from micro._grpc import rpc_errors
from micro._grpc_client import GrpcClient
from micro.proto.registry import registry_pb2, registry_pb2_grpc
from micro.registry import DEFAULT_TTL, Registry, Result, Service
from micro.registry._convert import result_from_proto, service_from_proto, service_to_proto

__all__ = ["GrpcRegistry", "GrpcWatcher"]


class GrpcWatcher:
    """A ``Watch`` stream as an async iterator of :class:`~micro.registry.Result`.

    The call starts when the watcher is created; :meth:`ready` returns once the server has
    subscribed it, after which no change is missed. :meth:`aclose` cancels the call.
    """

    def __init__(self, call: Any, address: str) -> None:
        self._call = call
        self._address = address
        self._ready = False
        self._closed = False

    async def ready(self) -> None:
        """Wait until the server has subscribed this watcher."""
        if not self._ready:
            with rpc_errors(self._address):
                await self._call.initial_metadata()
            self._ready = True

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Result:
        if self._closed:
            raise StopAsyncIteration
        try:
            with rpc_errors(self._address):
                message = await self._call.read()
        except errors.MicroError as exc:
            if self._closed:
                raise StopAsyncIteration from exc
            raise
        except asyncio.CancelledError:
            # grpc ends a pending read of a call we cancelled this way; our own task's
            # cancellation must still propagate
            task = asyncio.current_task()
            if self._closed and (task is None or not task.cancelling()):
                raise StopAsyncIteration from None
            raise
        if message is grpc.aio.EOF:
            raise StopAsyncIteration
        return result_from_proto(message)

    async def aclose(self) -> None:
        self._closed = True
        self._call.cancel()


class GrpcRegistry(GrpcClient, Registry):
    """A :class:`~micro.registry.Registry` served by a micro server at ``address``.

    ``domain=""`` (the default) lets the server pick the caller's namespace (the
    ``micro-namespace`` metadata, from ``namespace``), else ``micro``.

    Args:
        address: the server's gRPC address (host:port).
        namespace: sent as ``micro-namespace`` with every call.
        token: an access token, sent as ``authorization: Bearer``.
        channel: a channel to use instead of opening one (not closed by :meth:`close`).
        timeout: the deadline of each unary call, in seconds (a client deadline set with
            :func:`micro._platform.set_call_deadline`, the CLI's ``--timeout``, wins).
    """

    def __init__(
        self,
        address: str,
        *,
        namespace: str = "",
        token: str | None = None,
        channel: grpc.aio.Channel | None = None,
        timeout: float | None = 30.0,
    ) -> None:
        super().__init__(address, namespace=namespace, token=token, channel=channel, timeout=timeout)

    @property
    def stub(self) -> Any:
        return self._stub(registry_pb2_grpc.RegistryStub)

    async def register(self, service: Service, *, ttl: float = DEFAULT_TTL, domain: str = "") -> None:
        request = service_to_proto(service, ttl=max(math.ceil(ttl), 0), domain=domain)
        await self._call(registry_pb2_grpc.RegistryStub, "Register", request)

    async def deregister(self, service: Service, *, domain: str = "") -> None:
        request = service_to_proto(service, domain=domain)
        await self._call(registry_pb2_grpc.RegistryStub, "Deregister", request)

    async def get_service(self, name: str, *, domain: str = "") -> list[Service]:
        request = registry_pb2.GetRequest(service=name, options=registry_pb2.Options(domain=domain))
        response = await self._call(registry_pb2_grpc.RegistryStub, "GetService", request)
        return [service_from_proto(s) for s in response.services]

    async def list_services(self, *, domain: str = "") -> list[Service]:
        """Every service version with its metadata and nodes; the server leaves out endpoints
        and descriptor sets (so the listing stays small): :meth:`get_service` has them."""
        request = registry_pb2.ListRequest(options=registry_pb2.Options(domain=domain))
        response = await self._call(registry_pb2_grpc.RegistryStub, "ListServices", request)
        return [service_from_proto(s) for s in response.services]

    def watch(self, *, service: str = "", domain: str = "") -> GrpcWatcher:
        request = registry_pb2.WatchRequest(service=service, options=registry_pb2.Options(domain=domain))
        return GrpcWatcher(self.stub.Watch(request, metadata=self._metadata), self.address)
