"""What the workspace needs from micro, as a small UI-free interface.

Screens talk only to a :class:`Facade`; :class:`~micro_tui.fake.FakeFacade` stands in for it
in tests and snapshots, :class:`~micro_tui.real.RealFacade` talks to the server. No Textual,
grpc or protobuf imports here, so the first screen can import it cheaply.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "CallResult",
    "Connection",
    "EndpointInfo",
    "EnvInfo",
    "Facade",
    "NodeInfo",
    "ServiceChange",
    "ServiceVersion",
    "StreamItem",
    "Unsupported",
]


class Connection(enum.Enum):
    UNKNOWN = "unknown"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


class Unsupported(Exception):
    """A capability this build cannot offer yet; the message says what is missing."""


@dataclass(frozen=True, slots=True)
class EnvInfo:
    name: str
    address: str
    description: str = ""
    read_only: bool = False
    color: str = ""


@dataclass(frozen=True, slots=True)
class EndpointInfo:
    name: str  # "Handler.Method"
    method: str = ""  # "/package.Handler/Method"
    request_type: str = ""
    response_type: str = ""
    streaming: str = "unary"  # unary | server | client | bidi


@dataclass(frozen=True, slots=True)
class NodeInfo:
    id: str
    address: str
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ServiceVersion:
    name: str
    version: str
    endpoints: tuple[EndpointInfo, ...] = ()
    nodes: tuple[NodeInfo, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)
    descriptor_set: bytes = b""


@dataclass(frozen=True, slots=True)
class ServiceChange:
    action: str  # create | update | delete
    name: str


@dataclass(slots=True)
class CallResult:
    """A finished call: the response JSON or the error, with timing and metadata."""

    ok: bool
    response: str = ""  # JSON text
    code: int = 0  # micro error code when not ok
    status: str = "OK"
    detail: str = ""
    elapsed_ms: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    trailers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class StreamItem:
    """One message of a stream (``response``), or its end (``result`` set)."""

    index: int
    response: str = ""
    result: CallResult | None = None


class Facade(Protocol):
    """Everything the workspace reads or does, independent of the UI."""

    # context
    @property
    def env(self) -> EnvInfo: ...
    @property
    def namespace(self) -> str: ...
    @property
    def account(self) -> str: ...
    @property
    def connection(self) -> Connection: ...
    @property
    def login_required(self) -> bool:
        """No login for this env + namespace, or the server refused the one we have (401)."""
        ...

    async def login(self, username: str, password: str) -> str:
        """Log in to this env + namespace and remember it like ``micro login``; the account
        name. Raises :class:`micro.errors.MicroError` with the server's detail on failure."""
        ...

    def envs(self) -> list[EnvInfo]: ...
    def set_env(self, name: str) -> EnvInfo: ...
    def add_env(self, env: EnvInfo) -> None: ...
    def namespaces(self) -> list[str]:
        """The namespaces known locally (visited, current, ``micro``), without the network."""
        ...

    async def list_namespaces(self) -> list[str]:
        """The server's namespaces (auth Namespaces.List) when the account may list them,
        else :meth:`namespaces`."""
        ...

    def set_namespace(self, namespace: str) -> None: ...

    # server
    async def ping(self) -> Connection: ...
    async def ensure_server(self) -> str:
        """Start the local server when the env is ``local`` and nothing answers; a message
        saying what happened ("" when nothing was needed)."""
        ...

    # registry
    def cached_services(self) -> list[str]:
        """The last known service names (from the disk cache), without the network."""
        ...

    async def list_services(self) -> list[str]: ...
    async def get_service(self, name: str) -> list[ServiceVersion]: ...
    def watch_services(self) -> AsyncIterator[ServiceChange]: ...

    # calls
    async def call(
        self, service: str, endpoint: str, request: str, *, metadata: dict[str, str], timeout: float
    ) -> CallResult: ...
    def stream(
        self,
        service: str,
        endpoint: str,
        request: str,
        *,
        metadata: dict[str, str],
        timeout: float,
        requests: AsyncIterator[str] | None = None,
    ) -> AsyncIterator[StreamItem]:
        """A streaming call. Client and bidi streams send each of ``requests`` (JSON) as it
        comes and close their sending side when it ends; without it, ``request`` alone."""
        ...
