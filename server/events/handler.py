"""The events service's gRPC servicers: protobuf ⇄ domain and input checks, nothing else.

Every call acts in the namespace the call boundary decided (``micro-namespace``, else the
token's), so topics are isolated per namespace for every RPC. Publishing, consuming and
reading need an admin or a service account of the namespace; retention, deleting a topic
and moving a group need an admin (the rules can only narrow either).

``PublishStream`` reads requests while the previous batch is being stored and answers each
stored batch with one cumulative :class:`PublishAck`. ``Consume`` sends the initial metadata
``micro-subscribed: 1`` once the subscription is in place (a live tail misses nothing
published after the client saw it), then events; acks arrive on the same stream, and a
client that closes its side of the stream leaves once its acks are applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator
from typing import Any

from micro import errors
from micro.events import (
    DEFAULT_ACK_WAIT,
    DEFAULT_RETRY_LIMIT,
    Event,
    Publication,
    Stream,
    Subscription,
    check_group,
    check_topic,
)
from micro.events._convert import (
    check_timestamp,
    event_to_proto,
    group_to_proto,
    retention_from_proto,
    topic_to_proto,
)
from micro.proto.events import events_pb2, events_pb2_grpc
from server.auth import context as ctx
from server.auth.context import Permission, Policy
from server.limits import WATCHES, check_metadata

__all__ = ["PERMISSIONS", "SUBSCRIBED", "EventsHandler", "EventsStoreHandler"]

log = logging.getLogger(__name__)

SUBSCRIBED = ("micro-subscribed", "1")

_MEMBER = Permission(Policy.ADMIN_OR_SERVICE)
_ADMIN = Permission(Policy.ADMIN)
PERMISSIONS = {
    "/events.Stream/Publish": _MEMBER,
    "/events.Stream/PublishStream": _MEMBER,
    "/events.Stream/Consume": _MEMBER,
    "/events.Store/Read": _MEMBER,
    "/events.Store/Topics": _MEMBER,
    "/events.Store/Groups": _MEMBER,
    "/events.Store/Retention": _ADMIN,
    "/events.Store/Delete": _ADMIN,
    "/events.Store/ResetGroup": _ADMIN,
}


def _publication(request: events_pb2.PublishRequest) -> Publication:
    """A streamed event as the stream takes it (which checks topic and payload itself)."""
    if request.metadata:
        check_metadata("event metadata", request.metadata)
    return Publication(
        request.topic,
        request.payload,
        dict(request.metadata) if request.metadata else None,
        check_timestamp("timestamp", request.timestamp) if request.HasField("timestamp") else None,
    )


def _published(event: Event) -> events_pb2.PublishResponse:
    """The reply to a publish: the stored event without its payload, written into the reply
    in place (``PublishResponse(event=event_to_proto(...))`` copies the message it is given,
    which cost more than building it)."""
    reply = events_pb2.PublishResponse()
    pb = reply.event
    pb.id, pb.topic, pb.offset, pb.attempt = event.id, event.topic, event.offset, event.attempt
    whole = math.floor(event.timestamp)
    stamp = pb.timestamp
    stamp.seconds = whole
    stamp.nanos = min(int((event.timestamp - whole) * 1e9), 999_999_999)
    if event.metadata:
        pb.metadata.update(event.metadata)
    return reply


class EventsHandler(events_pb2_grpc.StreamServicer):
    """Serves a :class:`~micro.events.Stream` as ``events.Stream``: publish and consume."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream

    async def Publish(self, request: events_pb2.PublishRequest, context: Any) -> events_pb2.PublishResponse:
        # the stream checks topic and payload itself (every backend must)
        if request.metadata:
            check_metadata("event metadata", request.metadata)
        event = await self.stream.publish(
            request.topic,
            request.payload,
            metadata=dict(request.metadata) if request.metadata else None,
            timestamp=check_timestamp("timestamp", request.timestamp)
            if request.HasField("timestamp")
            else None,
            namespace=ctx.namespace(context),
        )
        return _published(event)

    async def PublishStream(
        self, request_iterator: AsyncIterator[events_pb2.PublishRequest], context: Any
    ) -> AsyncIterator[events_pb2.PublishAck]:
        namespace = ctx.namespace(context)
        queue: list[Publication] = []
        arrived = asyncio.Event()
        ended = False

        async def read() -> None:
            nonlocal ended
            try:
                async for request in request_iterator:
                    queue.append(_publication(request))
                    arrived.set()
            finally:
                ended = True
                arrived.set()

        reader = asyncio.get_running_loop().create_task(read())
        acknowledged = 0
        try:
            while True:
                if not queue:
                    if ended:
                        break
                    await arrived.wait()
                    arrived.clear()
                    continue
                batch, queue[:] = list(queue), []
                events = await self.stream.publish_batch(batch, namespace=namespace)
                acknowledged += len(events)
                yield events_pb2.PublishAck(acknowledged=acknowledged, offsets=[e.offset for e in events])
            await reader  # a bad request ends the stream with its error
        finally:
            if not reader.done():
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader

    async def Consume(
        self, request_iterator: AsyncIterator[events_pb2.ConsumeRequest], context: Any
    ) -> AsyncIterator[events_pb2.Event]:
        namespace = ctx.namespace(context)
        first = await anext(aiter(request_iterator), None)
        if first is None or first.WhichOneof("request") != "subscribe":
            raise errors.BadRequest("the first message of Consume must be a subscribe")
        sub = first.subscribe
        check_topic(sub.topic)
        check_group(sub.group)
        start = sub.WhichOneof("start")
        ack_wait = sub.ack_wait_ms / 1000 if sub.HasField("ack_wait_ms") else DEFAULT_ACK_WAIT
        if ack_wait <= 0:
            raise errors.BadRequest(f"ack_wait_ms must be positive: {sub.ack_wait_ms}")
        with WATCHES.hold(context):
            subscription = await self.stream.consume(
                sub.topic,
                group=sub.group,
                offset=sub.offset if start == "offset" else None,
                since=check_timestamp("since", sub.since) if start == "since" else None,
                from_start=start == "from_start" and sub.from_start,
                manual_ack=sub.manual_ack,
                ack_wait=ack_wait,
                retry_limit=sub.retry_limit if sub.HasField("retry_limit") else DEFAULT_RETRY_LIMIT,
                namespace=namespace,
            )
            reader = asyncio.get_running_loop().create_task(_acks(request_iterator, subscription))
            try:
                await context.send_initial_metadata((SUBSCRIBED,))
                async for event in subscription:
                    yield event_to_proto(event)
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
                await subscription.close()


async def _acks(requests: AsyncIterator[events_pb2.ConsumeRequest], subscription: Subscription) -> None:
    """Apply the acks and nacks a consumer sends (anything else is ignored); when it closes
    its side of the stream it leaves: the subscription ends after its last acks."""
    from micro.events import Event

    try:
        async for request in requests:
            if request.WhichOneof("request") != "ack":
                continue
            stub = Event(request.ack.id, "", 0, 0.0)
            if request.ack.nack:
                await subscription.nack(stub)
            else:
                await subscription.ack(stub)
        await subscription.close()
    except asyncio.CancelledError:
        raise
    except Exception:  # the call ended under us: the consume loop finishes it
        log.debug("reading acks ended", exc_info=True)


class EventsStoreHandler(events_pb2_grpc.StoreServicer):
    """Serves a :class:`~micro.events.Stream` as ``events.Store``: reads and administration."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream

    async def Read(self, request: events_pb2.ReadRequest, context: Any) -> events_pb2.ReadResponse:
        check_topic(request.topic)
        events = await self.stream.read(
            request.topic, offset=request.offset, limit=request.limit, namespace=ctx.namespace(context)
        )
        return events_pb2.ReadResponse(events=[event_to_proto(e) for e in events])

    async def Topics(self, request: events_pb2.TopicsRequest, context: Any) -> events_pb2.TopicsResponse:
        found = await self.stream.topics(namespace=ctx.namespace(context))
        return events_pb2.TopicsResponse(topics=[topic_to_proto(t) for t in found])

    async def Groups(self, request: events_pb2.GroupsRequest, context: Any) -> events_pb2.GroupsResponse:
        check_topic(request.topic)
        found = await self.stream.groups(request.topic, namespace=ctx.namespace(context))
        return events_pb2.GroupsResponse(groups=[group_to_proto(g) for g in found])

    async def Retention(
        self, request: events_pb2.RetentionRequest, context: Any
    ) -> events_pb2.RetentionResponse:
        check_topic(request.topic)
        if request.retention.max_age_ms < 0:
            raise errors.BadRequest(f"max_age_ms must not be negative: {request.retention.max_age_ms}")
        await self.stream.set_retention(
            request.topic, retention_from_proto(request.retention), namespace=ctx.namespace(context)
        )
        return events_pb2.RetentionResponse()

    async def Delete(self, request: events_pb2.DeleteRequest, context: Any) -> events_pb2.DeleteResponse:
        check_topic(request.topic)
        await self.stream.delete(request.topic, namespace=ctx.namespace(context))
        return events_pb2.DeleteResponse()

    async def ResetGroup(
        self, request: events_pb2.ResetGroupRequest, context: Any
    ) -> events_pb2.ResetGroupResponse:
        check_topic(request.topic)
        if not request.group:
            raise errors.BadRequest("group is required")
        check_group(request.group)
        start = request.WhichOneof("start")
        if start is None:
            raise errors.BadRequest("give offset or since")
        position = await self.stream.reset_group(
            request.topic,
            request.group,
            offset=request.offset if start == "offset" else None,
            since=check_timestamp("since", request.since) if start == "since" else None,
            namespace=ctx.namespace(context),
        )
        return events_pb2.ResetGroupResponse(position=position)
