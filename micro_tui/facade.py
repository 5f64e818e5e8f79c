"""What the workspace needs from micro, as small UI-free interfaces: one slice per area.

A :class:`Facade` bundles the slices: :class:`SessionFacade` (env, namespace, login,
connection), :class:`RegistryFacade` (area 1, services) and :class:`CallsFacade` (the invoke
screen); areas 2–7 have theirs in :mod:`micro_tui.slices`. Each slice has a fake (for tests
and snapshots) and a real implementation; one contract suite
(``tests/micro_tui/test_facade_contract*.py``) runs over both, and checks that it exercises
every public member of every slice, so the fake cannot quietly do what the real one does
not. No Textual, grpc or protobuf imports here, so the first screen can import it cheaply.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from micro_tui.slices.auth import AuthFacade
    from micro_tui.slices.config import ConfigFacade
    from micro_tui.slices.events import EventsFacade
    from micro_tui.slices.logs import LogsFacade
    from micro_tui.slices.runtime import RuntimeFacade
    from micro_tui.slices.store import StoreFacade

__all__ = [
    "CallResult",
    "CallsFacade",
    "Connection",
    "EndpointInfo",
    "EnvInfo",
    "Facade",
    "NodeInfo",
    "RegistryFacade",
    "ServiceChange",
    "ServiceVersion",
    "SessionFacade",
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


class SessionFacade(Protocol):
    """Where the workspace is: env, namespace, account, and whether the server answers."""

    @property
    def env(self) -> EnvInfo: ...
    @property
    def address(self) -> str:
        """The server address in use (the env's, or the one ``MICRO_PROXY`` forces)."""
        ...

    @property
    def namespace(self) -> str: ...
    @property
    def account(self) -> str:
        """The logged-in account's name; "not logged in" once a server answers without one."""
        ...

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
    def set_env(self, name: str) -> EnvInfo:
        """Switch to env ``name`` (:class:`micro.errors.NotFound` when there is none)."""
        ...

    def add_env(self, env: EnvInfo) -> None:
        """Add an env (:class:`micro.errors.Conflict` when the name is taken)."""
        ...

    def namespaces(self) -> list[str]:
        """The namespaces known locally (visited, current, ``micro``), without the network."""
        ...

    async def list_namespaces(self) -> list[str]:
        """The server's namespaces (auth Namespaces.List) when the account may list them,
        else :meth:`namespaces`."""
        ...

    def set_namespace(self, namespace: str) -> None: ...
    async def ping(self) -> Connection: ...
    async def ensure_server(self) -> str:
        """Start the local server when the env is ``local`` and nothing answers; a message
        saying what happened ("" when nothing was needed)."""
        ...


class RegistryFacade(Protocol):
    """Area 1: the services of the current env + namespace."""

    def cached_services(self) -> list[str]:
        """The last known service names (from the disk cache), without the network."""
        ...

    async def list_services(self) -> list[str]:
        """Sorted names; raises :class:`micro.errors.MicroError` (401 without a login)."""
        ...

    async def get_service(self, name: str) -> list[ServiceVersion]: ...
    def watch_services(self) -> AsyncIterator[ServiceChange]: ...


class CallsFacade(Protocol):
    """The invoke screen: unary and streaming calls with JSON in and out."""

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


class Facade(Protocol):
    """Everything the workspace reads or does, one slice per area (see :mod:`micro_tui.areas`)."""

    @property
    def session(self) -> SessionFacade: ...
    @property
    def registry(self) -> RegistryFacade: ...
    @property
    def calls(self) -> CallsFacade: ...
    @property
    def logs(self) -> LogsFacade: ...
    @property
    def events(self) -> EventsFacade: ...
    @property
    def store(self) -> StoreFacade: ...
    @property
    def config(self) -> ConfigFacade: ...
    @property
    def runtime(self) -> RuntimeFacade: ...
    @property
    def auth(self) -> AuthFacade: ...
