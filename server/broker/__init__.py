"""The broker core service: ephemeral pub/sub with queue groups, in memory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from micro.proto.broker import broker_pb2, broker_pb2_grpc
from server.broker.handler import PERMISSIONS, BrokerHandler

if TYPE_CHECKING:
    from server.core import CoreService
    from server.profiles import Backends

__all__ = ["BrokerHandler", "core"]


def core(backends: Backends) -> CoreService:
    """The broker service of the server, wired to ``backends.broker``."""
    from server.core import CoreService

    handler = BrokerHandler(backends.broker)
    return CoreService(
        name="broker",
        add=[lambda server: broker_pb2_grpc.add_BrokerServicer_to_server(handler, server)],
        permissions=PERMISSIONS,
        descriptors=[broker_pb2.DESCRIPTOR.services_by_name["Broker"]],
    )
