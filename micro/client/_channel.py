"""A channel to a service (not a node) for generated stubs: ``HelloworldStub(channel("helloworld"))``.

Each call resolves the service through the registry of the running loop's client, so one
:class:`ServiceChannel` works in any event loop. Unary calls return awaitables and streaming
calls async iterators; failures raise :class:`~micro.errors.MicroError`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from micro.client._core import Deserializer, Metadata, Serializer, client

__all__ = ["DEFAULT_TIMEOUT", "ServiceChannel"]

# the deadline of unary calls that set none (streams have none unless given)
DEFAULT_TIMEOUT = 30.0


class _Method:
    def __init__(self, service: str, method: str, ser: Serializer, de: Deserializer) -> None:
        self.service = service
        self.method = method
        self.ser = ser
        self.de = de


class _UnaryUnary(_Method):
    async def __call__(
        self, request: Any, *, timeout: float | None = None, metadata: Metadata | None = None, **_: Any
    ) -> Any:
        return await client().unary(
            "unary_unary",
            self.service,
            self.method,
            request,
            ser=self.ser,
            de=self.de,
            timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
            metadata=metadata,
        )


class _StreamUnary(_Method):
    async def __call__(
        self,
        request_iterator: Any,
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        **_: Any,
    ) -> Any:
        return await client().unary(
            "stream_unary",
            self.service,
            self.method,
            request_iterator,
            ser=self.ser,
            de=self.de,
            timeout=timeout,
            metadata=metadata,
        )


class _Streaming(_Method):
    kind = ""

    def __call__(
        self, request: Any, *, timeout: float | None = None, metadata: Metadata | None = None, **_: Any
    ) -> AsyncIterator[Any]:
        return client().stream(
            self.kind,
            self.service,
            self.method,
            request,
            ser=self.ser,
            de=self.de,
            timeout=timeout,
            metadata=metadata,
        )


class _UnaryStream(_Streaming):
    kind = "unary_stream"


class _StreamStream(_Streaming):
    kind = "stream_stream"


class ServiceChannel(grpc.aio.Channel):  # type: ignore[misc]
    """A ``grpc.aio.Channel`` look-alike bound to a service name rather than an address."""

    def __init__(self, service: str) -> None:
        self.service = service

    def unary_unary(
        self,
        method: str,
        request_serializer: Serializer = None,
        response_deserializer: Deserializer = None,
        _registered_method: bool | None = False,
    ) -> Any:
        return _UnaryUnary(self.service, method, request_serializer, response_deserializer)

    def unary_stream(
        self,
        method: str,
        request_serializer: Serializer = None,
        response_deserializer: Deserializer = None,
        _registered_method: bool | None = False,
    ) -> Any:
        return _UnaryStream(self.service, method, request_serializer, response_deserializer)

    def stream_unary(
        self,
        method: str,
        request_serializer: Serializer = None,
        response_deserializer: Deserializer = None,
        _registered_method: bool | None = False,
    ) -> Any:
        return _StreamUnary(self.service, method, request_serializer, response_deserializer)

    def stream_stream(
        self,
        method: str,
        request_serializer: Serializer = None,
        response_deserializer: Deserializer = None,
        _registered_method: bool | None = False,
    ) -> Any:
        return _StreamStream(self.service, method, request_serializer, response_deserializer)

    async def __aenter__(self) -> ServiceChannel:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def close(self, grace: float | None = None) -> None:
        """Nothing to do: node channels belong to the running loop and close with it."""

    def get_state(self, try_to_connect: bool = False) -> grpc.ChannelConnectivity:
        return grpc.ChannelConnectivity.READY

    async def wait_for_state_change(self, last_observed_state: grpc.ChannelConnectivity) -> None:
        return None

    async def channel_ready(self) -> None:
        await client().route(self.service)
