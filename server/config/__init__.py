"""The config core service: one JSON document per namespace, kept in the store.

Secrets are encrypted with a key generated at first start in the server's data folder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from micro.proto.config import config_pb2, config_pb2_grpc
from server.config.handler import PERMISSIONS, ConfigHandler
from server.config.stored import StoreConfig, load_key

if TYPE_CHECKING:
    from server.core import CoreService
    from server.profiles import Backends

__all__ = ["ConfigHandler", "StoreConfig", "core"]


def core(backends: Backends) -> CoreService:
    """The config service of the server, backed by ``backends.store``."""
    from server.core import CoreService

    config = StoreConfig(backends.store, key=load_key(backends.data_dir))
    handler = ConfigHandler(config)
    return CoreService(
        name="config",
        add=[lambda server: config_pb2_grpc.add_ConfigServicer_to_server(handler, server)],
        permissions=PERMISSIONS,
        descriptors=[config_pb2.DESCRIPTOR.services_by_name["Config"]],
    )
