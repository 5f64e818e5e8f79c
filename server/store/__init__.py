"""The store core service: key-value records served over gRPC, SQLite by default, and blobs
(``store.BlobStore``) in diskcache files."""

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
    from server.store.blob_handler import PERMISSIONS as BLOB_PERMISSIONS
    from server.store.blob_handler import BlobStoreHandler

    handler = StoreHandler(backends.store)
    blobs = BlobStoreHandler(backends.blobs)
    return CoreService(
        name="store",
        add=[
            lambda server: store_pb2_grpc.add_StoreServicer_to_server(handler, server),
            lambda server: store_pb2_grpc.add_BlobStoreServicer_to_server(blobs, server),
        ],
        permissions={**PERMISSIONS, **BLOB_PERMISSIONS},
        descriptors=[store_pb2.DESCRIPTOR.services_by_name[name] for name in ("Store", "BlobStore")],
    )
