"""The events core service: persistent, replayable streams served over gRPC, an append-only
SQLite log by default."""

from __future__ import annotations

from typing import TYPE_CHECKING

from micro.proto.events import events_pb2, events_pb2_grpc
from server.events.handler import PERMISSIONS, EventsHandler, EventsStoreHandler

if TYPE_CHECKING:
    from server.core import CoreService
    from server.profiles import Backends

__all__ = ["EventsHandler", "EventsStoreHandler", "core"]


def core(backends: Backends) -> CoreService:
    """The events service of the server (``events.Stream`` and ``events.Store``), wired to
    ``backends.events``."""
    from server.core import CoreService

    stream = EventsHandler(backends.events)
    store = EventsStoreHandler(backends.events)
    return CoreService(
        name="events",
        add=[
            lambda server: events_pb2_grpc.add_StreamServicer_to_server(stream, server),
            lambda server: events_pb2_grpc.add_StoreServicer_to_server(store, server),
        ],
        permissions=PERMISSIONS,
        descriptors=[events_pb2.DESCRIPTOR.services_by_name[name] for name in ("Stream", "Store")],
    )
