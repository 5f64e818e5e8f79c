"""The network view: what is reachable in a namespace (``network.Network``).

:class:`NodeStatus` is a node of a registered service with its health; :class:`Route` the
calls made to one endpoint of a service, counted by the proxy, the HTTP gateway and the
framework's client on every node (:mod:`micro._routes`) and merged by the server.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["NodeStatus", "Route"]


@dataclass(frozen=True, slots=True)
class NodeStatus:
    id: str
    address: str
    service: str
    status: str  # "ok", "unreachable", "no answer within 1s", "error: …"


@dataclass(frozen=True, slots=True)
class Route:
    service: str
    endpoint: str
    requests: int
    errors: int
    p50_ms: float
    p99_ms: float
