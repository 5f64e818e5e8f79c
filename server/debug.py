"""What the server's ``debug.Debug/Stats`` counts: the core services' requests and errors.

Every core service's node is this process, so ``micro health store`` and ``micro stats
store`` ask it; it serves ``debug.Debug`` and gRPC health like any node
(:class:`micro._node.NodeServices`). Requests and errors are counted for the core services'
methods only, by the handlers' wrappers (:mod:`server.serving`): calls the proxy forwards
are counted by the services that serve them.
"""

from __future__ import annotations

__all__ = ["CORE_PACKAGES", "is_core"]

# proto packages served by the server itself (user services cannot take these names)
CORE_PACKAGES = frozenset(
    {"auth", "broker", "config", "debug", "events", "network", "registry", "runtime", "store"}
)


def is_core(method: str) -> bool:
    """Whether ``method`` is one of the core services' (counted for ``Stats``)."""
    service = method[1:].partition("/")[0]
    return service.partition(".")[0] in CORE_PACKAGES
