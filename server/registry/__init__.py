"""The registry core service: service discovery served over gRPC, in memory by default."""

from __future__ import annotations

from typing import TYPE_CHECKING

from micro.proto.registry import registry_pb2, registry_pb2_grpc
from server.registry.handler import PERMISSIONS, RegistryHandler

if TYPE_CHECKING:
    from server.core import CoreService
    from server.profiles import Backends

__all__ = ["RegistryHandler", "core"]


def core(backends: Backends) -> CoreService:
    """The registry service of the server, wired to ``backends.registry``."""
    from server.core import CoreService

    handler = RegistryHandler(backends.registry)
    return CoreService(
        name="registry",
        add=[lambda server: registry_pb2_grpc.add_RegistryServicer_to_server(handler, server)],
        permissions=PERMISSIONS,
        descriptors=[registry_pb2.DESCRIPTOR.services_by_name["Registry"]],
    )
