"""The broker service's gRPC servicer: protobuf ⇄ domain and input validation, nothing else.

Who may call: an admin or a service account of the namespace (rules can only narrow it),
as for the store and config. A subscription counts as one of the caller's open watches
(``MICRO_LIMIT_WATCHES``), so one caller cannot open subscriptions without bound; each
subscriber's queue is bounded by the broker (:mod:`micro.broker.memory`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from micro import errors
from micro.broker import Broker, Message
from micro.proto.broker import broker_pb2, broker_pb2_grpc
from server.auth import context as ctx
from server.auth.context import Permission, Policy
from server.limits import WATCHES, check_metadata

__all__ = ["PERMISSIONS", "BrokerHandler"]


def _request_namespace(request: Any) -> str:
    return str(request.namespace)


PERMISSIONS = {
    f"/broker.Broker/{method}": Permission(Policy.ADMIN_OR_SERVICE, _request_namespace)
    for method in ("Publish", "Subscribe")
}


class BrokerHandler(broker_pb2_grpc.BrokerServicer):
    """Serves :class:`~micro.broker.Broker` ``broker`` as the ``broker.Broker`` gRPC service."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    async def Publish(self, request: broker_pb2.PublishRequest, context: Any) -> broker_pb2.PublishResponse:
        namespace = ctx.namespace(context, request.namespace)
        check_metadata("header", request.message.header)
        message = Message(body=request.message.body, header=dict(request.message.header))
        delivery = await self.broker.publish(request.topic, message, namespace=namespace)
        return broker_pb2.PublishResponse(delivered=delivery.delivered, dropped=delivery.dropped)

    async def Subscribe(
        self, request: broker_pb2.SubscribeRequest, context: Any
    ) -> AsyncIterator[broker_pb2.Message]:
        namespace = ctx.namespace(context, request.namespace)
        with WATCHES.hold(context):
            subscription = await self.broker.subscribe(
                request.topic, queue=request.queue, namespace=namespace
            )
            try:
                # subscribed: the caller's subscribe() returns once it sees the headers
                await context.send_initial_metadata(())
                async for message in subscription:
                    yield broker_pb2.Message(
                        header=message.header, body=message.body, dropped=message.dropped
                    )
            finally:
                await subscription.close()
        raise errors.Unavailable("subscription ended by the server (namespace deleted or server stopping)")
