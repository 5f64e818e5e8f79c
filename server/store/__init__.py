"""The store core service: key-value records served over gRPC, SQLite by default."""

from __future__ import annotations

from typing import TYPE_CHECKING

from micro.proto.store import store_pb2, store_pb2_grpc
from server.store.handler import PERMISSIONS, StoreHandler

if TYPE_CHECKING:
    from server.core import CoreService
    from server.profiles import Backends

__all__ = ["StoreHandler", "core"]


def core(backends: Backends) -> CoreService:
    """The store service of the server, wired to ``backends.store``."""
    from server.core import CoreService

    handler = StoreHandler(backends.store)
    return CoreService(
        name="store",
        add=[lambda server: store_pb2_grpc.add_StoreServicer_to_server(handler, server)],
        permissions=PERMISSIONS,
        descriptors=[store_pb2.DESCRIPTOR.services_by_name["Store"]],
    )
