"""The registry: service discovery with TTLs, heartbeats and watches.

A service is ``{name, version, metadata, endpoints, nodes}`` plus its serialized
``FileDescriptorSet``; the domain is the namespace.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

__all__ = [
    "DEFAULT_DOMAIN",
    "DEFAULT_TTL",
    "IDEMPOTENCY",
    "NO_SIDE_EFFECTS",
    "RESERVED_NAMES",
    "Endpoint",
    "Node",
    "Registry",
    "Result",
    "Service",
    "Streaming",
    "Value",
]

DEFAULT_DOMAIN = "micro"
DEFAULT_TTL = 90.0
# the core services' names (spec: Names): only the server itself registers these
RESERVED_NAMES = frozenset(
    {"registry", "store", "config", "auth", "broker", "events", "runtime", "network", "proxy", "api", "debug"}
)

# endpoint metadata: the method's ``option idempotency_level`` (``NO_SIDE_EFFECTS`` or
# ``IDEMPOTENT``; absent when the .proto says nothing), so clients can tell reads from writes
IDEMPOTENCY = "idempotency"
NO_SIDE_EFFECTS = "NO_SIDE_EFFECTS"


class Streaming(enum.Enum):
    UNARY = "unary"
    SERVER = "server"
    CLIENT = "client"
    BIDI = "bidi"


@dataclass(slots=True)
class Value:
    """A schema tree: a field's name, its type, and the fields of a message type."""

    name: str
    type: str
    values: list[Value] = field(default_factory=list)


@dataclass(slots=True)
class Endpoint:
    name: str  # "Handler.Method"
    method: str = ""  # "/package.Handler/Method"
    request_type: str = ""
    response_type: str = ""
    streaming: Streaming = Streaming.UNARY
    request: Value | None = None
    response: Value | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def side_effect_free(self) -> bool:
        """Marked ``option idempotency_level = NO_SIDE_EFFECTS;`` in its .proto: calling it
        changes nothing, so a read-only environment lets it through."""
        return self.metadata.get(IDEMPOTENCY) == NO_SIDE_EFFECTS


@dataclass(slots=True)
class Node:
    id: str
    address: str
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Service:
    name: str
    version: str = "latest"
    metadata: dict[str, str] = field(default_factory=dict)
    endpoints: list[Endpoint] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    descriptor_set: bytes = b""


@dataclass(slots=True)
class Result:
    action: str  # create | update | delete
    service: Service
    timestamp: float


class Registry(ABC):
    @abstractmethod
    async def register(
        self, service: Service, *, ttl: float = DEFAULT_TTL, domain: str = DEFAULT_DOMAIN
    ) -> None:
        """Add or refresh the service's nodes; each lapses after ``ttl`` seconds."""

    @abstractmethod
    async def deregister(self, service: Service, *, domain: str = DEFAULT_DOMAIN) -> None:
        """Remove the service's nodes (the version disappears with its last node)."""

    @abstractmethod
    async def get_service(self, name: str, *, domain: str = DEFAULT_DOMAIN) -> list[Service]:
        """Every version of ``name``; :class:`~micro.errors.NotFound` when none."""

    @abstractmethod
    async def list_services(self, *, domain: str = DEFAULT_DOMAIN) -> list[Service]:
        """Every service version of the domain, sorted by name then version."""

    @abstractmethod
    def watch(self, *, service: str = "", domain: str = DEFAULT_DOMAIN) -> AsyncIterator[Result]:
        """Changes (create, update, delete) as they happen, until the iterator is closed."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""
