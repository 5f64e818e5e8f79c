"""The network core service: what is reachable in a namespace — services, nodes, routes.

``network.Network`` lists the namespace's registered services and their nodes (with each
node's health) and merges the per-route call counters of every node (``Debug.Stats``) with
the server's own (the proxy's and the gateway's; :mod:`micro._routes`). It lives in the
proxy (DESIGN.md): nodes are reached over the proxy's channels with the call tokens the
proxy mints, once the server hands it the proxy (:attr:`CoreService.proxy`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from micro.proto.network import network_pb2, network_pb2_grpc
from server.network.handler import PERMISSIONS, NetworkHandler

if TYPE_CHECKING:
    from server.core import CoreService
    from server.profiles import Backends

__all__ = ["NetworkHandler", "core"]


def core(backends: Backends) -> CoreService:
    """The network service of the server, over ``backends.registry``."""
    from server.core import CoreService

    handler = NetworkHandler(backends.registry)
    return CoreService(
        name="network",
        add=[lambda server: network_pb2_grpc.add_NetworkServicer_to_server(handler, server)],
        permissions=PERMISSIONS,
        descriptors=[network_pb2.DESCRIPTOR.services_by_name["Network"]],
        proxy=handler.attach,
    )
