"""The broker over gRPC: the default :class:`~micro.broker.Broker` inside services and the CLI's.

A subscription is a server stream without a deadline; :meth:`GrpcBroker.subscribe` returns
once the server has sent the stream's headers, which it does after the subscriber is in
place, so a message published after ``subscribe`` returns reaches it.
"""

from __future__ import annotations

from typing import Any

from micro._grpc import call_metadata, rpc_errors
from micro._grpc_client import GrpcClient
from micro.broker import Broker, Delivery, Message, Subscription, check_message, check_topic
from micro.proto.broker import broker_pb2, broker_pb2_grpc

__all__ = ["GrpcBroker"]

SERVICE = "broker"
_STUB = broker_pb2_grpc.BrokerStub


class _StreamSubscription(Subscription):
    def __init__(self, call: Any, address: str) -> None:
        self._call = call
        self._address = address
        self._done = False

    async def __anext__(self) -> Message:
        if self._done:
            raise StopAsyncIteration
        with rpc_errors(self._address):
            response = await self._call.read()
        import grpc

        if response is grpc.aio.EOF:
            self._done = True
            raise StopAsyncIteration
        return Message(body=bytes(response.body), header=dict(response.header), dropped=int(response.dropped))

    async def close(self) -> None:
        self._done = True
        self._call.cancel()


class GrpcBroker(GrpcClient, Broker):
    """A :class:`~micro.broker.Broker` served by the broker service at ``address`` (one
    channel per running event loop, unless ``channel`` is given)."""

    per_loop = True

    def _metadata_for(self, namespace: str) -> tuple[tuple[str, str], ...]:
        return call_metadata(namespace=namespace or self.namespace, token=self._token, service=SERVICE)

    async def publish(self, topic: str, message: Message, *, namespace: str = "") -> Delivery:
        check_topic(topic)
        check_message(message.body, message.header)
        request = broker_pb2.PublishRequest(
            topic=topic,
            namespace=namespace,
            message=broker_pb2.Message(header=message.header, body=message.body),
        )
        response = await self._call(_STUB, "Publish", request, metadata=self._metadata_for(namespace))
        return Delivery(delivered=int(response.delivered), dropped=int(response.dropped))

    async def subscribe(self, topic: str, *, queue: str = "", namespace: str = "") -> Subscription:
        check_topic(topic)
        if queue:
            check_topic(queue, "queue")
        request = broker_pb2.SubscribeRequest(topic=topic, queue=queue, namespace=namespace)
        # a subscription lasts until it is closed: no deadline
        call = self._stub(_STUB).Subscribe(request, metadata=self._metadata_for(namespace))
        try:
            with rpc_errors(self.address):
                await call.initial_metadata()  # sent once the subscriber is in place
                if call.done():  # refused: headers and status came together
                    await call.read()  # raises the call's error
        except BaseException:
            call.cancel()
            raise
        return _StreamSubscription(call, self.address)
