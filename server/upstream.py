"""The server a core service run alone (``micro service store``) joins.

A core service run in its own process keeps the backends its profile gives it for what it
owns (the store's SQLite file, for ``store``) and reaches everything else — the registry it
registers in, the auth service whose tokens and rules its callers are checked against —
through the clients of the server the CLI's environment points at, exactly as a user
service does. The access token those calls carry is asked for again before each use, so a
login refreshed while the service runs is followed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from micro.auth.grpc import GrpcAuth
from micro.broker.grpc import GrpcBroker
from micro.events.grpc import GrpcStream
from micro.registry.grpc import GrpcRegistry
from micro.runtime.grpc import GrpcRuntime
from micro.store._blob_grpc import GrpcBlobStore
from micro.store.grpc import GrpcStore

__all__ = ["Upstream"]

TokenSource = Callable[[], Awaitable[str | None]]


class Upstream:
    """Clients of the server at ``address``, carrying the token ``token()`` returns.

    Args:
        address: the server's gRPC address (host:port).
        token: returns the access token to send (None: anonymous).
    """

    def __init__(self, address: str, token: TokenSource) -> None:
        self.address = address
        self._token = token
        self.registry = GrpcRegistry(address, timeout=10.0)
        self.auth = GrpcAuth(address)
        self.store = GrpcStore(address)
        self.broker = GrpcBroker(address)
        self.events = GrpcStream(address)
        self.runtime = GrpcRuntime(address)
        self.blobs = GrpcBlobStore(address)

    def backend(self, concern: str) -> Any:
        """The client standing in for ``concern``'s backend (a concern of
        :data:`server.profiles.BACKENDS`: ``store``, ``registry``, ``broker``, ``events``,
        ``runtime``, ``blobs``)."""
        clients: dict[str, Any] = {
            "store": self.store,
            "registry": self.registry,
            "broker": self.broker,
            "events": self.events,
            "runtime": self.runtime,
            "blobs": self.blobs,
        }
        return clients[concern]

    def _clients(
        self,
    ) -> tuple[GrpcRegistry, GrpcAuth, GrpcStore, GrpcBroker, GrpcStream, GrpcRuntime, GrpcBlobStore]:
        return self.registry, self.auth, self.store, self.broker, self.events, self.runtime, self.blobs

    async def refresh(self) -> None:
        """Give every client the current token (before calls that must not find it expired)."""
        token = await self._token()
        for client in self._clients():
            client.set_token(token)

    async def close(self) -> None:
        for client in self._clients():
            await client.close()
