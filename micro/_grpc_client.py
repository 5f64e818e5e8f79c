"""The channel plumbing every gRPC client of a core service shares (store, registry, config,
auth; events, broker and runtime next).

A client knows the server's ``address`` (or the proxy's), the ``namespace`` and ``token``
its calls carry and the deadline of its unary calls; its channel is opened on first use by
:func:`micro._grpc.aio_channel` (TLS where :func:`micro._platform.tls_for` says so, a server
that never answers told apart) unless one is given, and its calls translate gRPC failures
into :class:`~micro.errors.MicroError` (:func:`micro._grpc.rpc_errors`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import grpc

from micro import _platform
from micro._grpc import aio_channel, call_metadata, from_rpc_error

__all__ = ["GrpcClient"]

S = TypeVar("S")
Metadata = tuple[tuple[str, str], ...]


class GrpcClient:
    """The base of ``Grpc<Service>`` clients.

    Args:
        address: ``host:port`` of the server (or proxy).
        namespace: sent as ``micro-namespace``; empty lets the server use the caller's.
        token: an access token, sent as ``authorization: Bearer …``.
        channel: an existing ``grpc.aio`` channel to use (not closed by :meth:`close`).
        timeout: the deadline of each unary call in seconds (a client deadline set with
            :func:`micro._platform.set_call_deadline`, the CLI's ``--timeout``, wins); None:
            the client deadline, if any.
    """

    #: open one channel per running event loop (for clients kept across ``asyncio.run``)
    per_loop = False

    def __init__(
        self,
        address: str,
        *,
        namespace: str = "",
        token: str | None = None,
        channel: grpc.aio.Channel | None = None,
        timeout: float | None = None,
    ) -> None:
        self.address = address
        self.namespace = namespace
        self._token = token
        # a grpc.aio.Metadata, not pairs: grpc converts pairs into one on every call (~3 µs)
        self._metadata: Any = grpc.aio.Metadata(*call_metadata(namespace=namespace, token=token))
        self._timeout = _platform.call_deadline(timeout)
        self._given = channel
        self._channel: grpc.aio.Channel | None = channel
        self._stubs: dict[Any, Any] = {}
        self._owned: dict[asyncio.AbstractEventLoop, tuple[grpc.aio.Channel, dict[Any, Any]]] = {}

    def _stub(self, factory: Callable[[grpc.aio.Channel], S]) -> S:
        """The ``factory`` stub (a generated ``…Stub`` class) over this client's channel."""
        if self.per_loop and self._given is None:
            return self._loop_stub(factory)
        stub = self._stubs.get(factory)
        if stub is None:
            if self._channel is None:
                self._channel = aio_channel(self.address)
            stub = self._stubs[factory] = factory(self._channel)
        return stub

    def _loop_stub(self, factory: Callable[[grpc.aio.Channel], S]) -> S:
        loop = asyncio.get_running_loop()
        entry = self._owned.get(loop)
        if entry is None:
            for stale in [other for other in self._owned if other.is_closed()]:
                del self._owned[stale]
            entry = self._owned[loop] = (aio_channel(self.address), {})
        stub = entry[1].get(factory)
        if stub is None:
            stub = entry[1][factory] = factory(entry[0])
        return stub

    async def _call(
        self,
        factory: Callable[[grpc.aio.Channel], Any],
        method: str,
        request: Any,
        *,
        metadata: Metadata | None = None,
    ) -> Any:
        """A unary call of ``method`` on the ``factory`` stub, failures as MicroError (as
        :func:`~micro._grpc.rpc_errors` would, without a context manager per call: every
        client call of the framework comes through here)."""
        try:
            return await getattr(self._stub(factory), method)(
                request, metadata=self._metadata if metadata is None else metadata, timeout=self._timeout
            )
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, address=self.address) from exc

    def set_token(self, token: str | None) -> None:
        """Carry ``token`` on calls made from now on (a long-running process's refreshed login)."""
        if token != self._token:
            self._token = token
            self._metadata = grpc.aio.Metadata(*call_metadata(namespace=self.namespace, token=token))

    async def close(self) -> None:
        """Close the channel this client opened (in the running loop, for per-loop clients)."""
        channel = self._channel if self._given is None else None
        self._channel = self._given
        self._stubs.clear()
        owned, self._owned = self._owned, {}
        if channel is not None:
            await channel.close()
        entry = owned.get(asyncio.get_running_loop())
        if entry is not None:
            await entry[0].close()
