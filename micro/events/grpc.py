"""Event streams over gRPC: the default inside services and the CLI's.

Every call acts in the client's namespace (``micro-namespace``) unless a call names another.
:meth:`GrpcStream.consume` returns once the server confirmed the subscription (initial
metadata ``micro-subscribed``), so a live tail sees everything published after it returns.
:meth:`GrpcStream.publisher` opens a streamed publish: many events on one call, pipelined,
acknowledged cumulatively.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
from collections import deque
from typing import Any

import grpc

from micro import errors
from micro._grpc import call_metadata, from_rpc_error, metadata_value, rpc_errors
from micro._grpc_client import GrpcClient
from micro.events import (
    DEFAULT_ACK_WAIT,
    DEFAULT_RETRY_LIMIT,
    Event,
    GroupInfo,
    Retention,
    Stream,
    Subscription,
    TopicInfo,
    check_group,
    check_start,
    check_topic,
)
from micro.events._convert import (
    event_from_proto,
    group_from_proto,
    retention_to_proto,
    topic_from_proto,
)
from micro.events._convert import (
    timestamp as to_timestamp,
)
from micro.proto.events import events_pb2, events_pb2_grpc

__all__ = ["GrpcStream", "GrpcSubscription", "Publisher"]

_UINT32 = 2**32 - 1
_SUBSCRIBED = "micro-subscribed"
# events a subscription reads ahead of its caller
READ_AHEAD = 256
# how long closing a manual-ack subscription waits for the server to apply its acks
CLOSE_SECONDS = 5.0


class GrpcSubscription(Subscription):
    """A ``Consume`` call: events in, acks out.

    A reader task reads ahead up to :data:`READ_AHEAD` events while the caller handles the
    last one, and is the only one reading the call: waiting for an event is cancellation
    safe (a cancelled ``call.read()`` would cancel the whole call in grpc.aio), so
    ``asyncio.wait_for(sub.__anext__(), t)`` leaves the stream intact.
    """

    def __init__(self, call: Any, address: str, manual: bool) -> None:
        self._call = call
        self._address = address
        self._manual = manual
        self._closed = False
        self._buffer: deque[Any] = deque()
        self._end: BaseException | None = None  # set when the stream ended
        self._ended = False
        self._waiter: asyncio.Future[None] | None = None
        self._room = asyncio.Event()
        self._room.set()
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            while True:
                if len(self._buffer) >= READ_AHEAD:
                    self._room.clear()
                    await self._room.wait()
                pb = await self._call.read()
                if pb is grpc.aio.EOF:
                    return
                if not self._closed:  # after close, events are left to come back to the group
                    self._buffer.append(pb)
                    self._wake()
        except grpc.RpcError as exc:
            self._end = from_rpc_error(exc, address=self._address)
        finally:
            self._ended = True
            self._wake()

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def __anext__(self) -> Event:
        while True:
            if self._closed:
                raise StopAsyncIteration
            if self._buffer:
                pb = self._buffer.popleft()
                self._room.set()
                return event_from_proto(pb)
            if self._ended:
                if self._end is not None:
                    raise self._end
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter

    async def _send(self, event: Event, nack: bool) -> None:
        if not self._manual or self._closed:
            return
        request = events_pb2.ConsumeRequest(ack=events_pb2.Ack(id=event.id, nack=nack))
        with rpc_errors(self._address):
            await self._call.write(request)

    async def ack(self, event: Event) -> None:
        await self._send(event, False)

    async def nack(self, event: Event) -> None:
        await self._send(event, True)

    async def close(self) -> None:
        """Leave: with manual ack, end the request side and wait (briefly) for the server to
        end the stream, so the acks already sent are applied; then cancel the call."""
        if self._closed:
            return
        self._closed = True
        self._buffer.clear()
        self._room.set()
        self._wake()
        if self._manual and not self._ended:
            with contextlib.suppress(grpc.RpcError, asyncio.TimeoutError):
                await self._call.done_writing()
                await asyncio.wait_for(asyncio.shield(self._reader), CLOSE_SECONDS)
        self._call.cancel()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


class Publisher:
    """A streamed publish: :meth:`publish` sends without waiting; :meth:`flush` waits until
    the server stored everything sent so far. Use as ``async with stream.publisher() as p``.
    """

    def __init__(self, call: Any, address: str, *, window: int) -> None:
        self._call = call
        self._address = address
        self._window = window
        self.sent = 0
        self.acknowledged = 0
        self.offsets: list[int] = []  # of every acknowledged event, in the order sent
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()
        self._reader = asyncio.get_running_loop().create_task(self._read())
        self._failure: BaseException | None = None

    async def _read(self) -> None:
        try:
            with rpc_errors(self._address):
                while True:
                    ack = await self._call.read()
                    if ack is grpc.aio.EOF:
                        break
                    self.acknowledged = ack.acknowledged
                    self.offsets.extend(ack.offsets)
                    self._wake()
        except BaseException as exc:
            self._failure = exc
            self._wake(exc)
            if not isinstance(exc, asyncio.CancelledError | errors.MicroError):
                raise
        else:
            if self.acknowledged < self.sent:
                self._failure = errors.Unavailable("the publish stream ended before every event was stored")
            self._wake(self._failure)

    def _wake(self, failure: BaseException | None = None) -> None:
        while self._waiters and (failure is not None or self._waiters[0][0] <= self.acknowledged):
            _, future = self._waiters.popleft()
            if not future.done():
                if failure is not None and not isinstance(failure, asyncio.CancelledError):
                    future.set_exception(failure)
                else:
                    future.set_result(None)

    async def _until(self, count: int) -> None:
        if self.acknowledged >= count:
            return
        if self._failure is not None:
            raise self._failure
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((count, future))
        await future

    async def publish(self, topic: str, payload: bytes, *, metadata: dict[str, str] | None = None) -> int:
        """Send one event (waits only while ``window`` events are unacknowledged); returns
        its sequence number in this stream (1, 2, …)."""
        if self._failure is not None:
            raise self._failure
        if self.sent - self.acknowledged >= self._window:
            await self._until(self.sent - self._window + 1)
        request = events_pb2.PublishRequest(topic=topic, payload=payload)
        if metadata:
            request.metadata.update(metadata)
        with rpc_errors(self._address):
            await self._call.write(request)
        self.sent += 1
        return self.sent

    async def flush(self) -> None:
        """Wait until every event sent so far is stored."""
        await self._until(self.sent)

    async def close(self) -> None:
        """Flush, end the stream and wait for its last ack."""
        try:
            if self._failure is None:
                with rpc_errors(self._address):
                    await self._call.done_writing()
                await self.flush()
                await self._reader
        finally:
            if not self._reader.done():
                self._reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._reader
            self._call.cancel()

    async def __aenter__(self) -> Publisher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class GrpcStream(GrpcClient, Stream):
    """A :class:`~micro.events.Stream` served by the events service at ``address``.

    Args:
        address: ``host:port`` of the server (or proxy).
        namespace: sent as ``micro-namespace``; empty lets the server use the caller's.
        token: an access token, sent as ``authorization: Bearer …``.
        channel: an existing ``grpc.aio`` channel to use (not closed by :meth:`close`).
    """

    def _md(self, namespace: str) -> tuple[tuple[str, str], ...] | None:
        if not namespace or namespace == self.namespace:
            return None
        return call_metadata(namespace=namespace, token=self._token)

    async def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        metadata: dict[str, str] | None = None,
        timestamp: float | None = None,
        namespace: str = "",
    ) -> Event:
        request = events_pb2.PublishRequest(topic=topic, payload=payload)
        if metadata:
            request.metadata.update(metadata)
        if timestamp is not None:
            request.timestamp.CopyFrom(to_timestamp(timestamp))
        response = await self._call(
            events_pb2_grpc.StreamStub, "Publish", request, metadata=self._md(namespace)
        )
        event = event_from_proto(response.event)
        event.payload = payload
        return event

    def publisher(self, *, window: int = 1024, namespace: str = "") -> Publisher:
        """A streamed publish (see :class:`Publisher`); at most ``window`` events in flight."""
        stub = self._stub(events_pb2_grpc.StreamStub)
        md = self._md(namespace) or self._metadata
        return Publisher(stub.PublishStream(metadata=md), self.address, window=window)

    async def consume(
        self,
        topic: str,
        *,
        group: str = "",
        offset: int | None = None,
        since: float | None = None,
        from_start: bool = False,
        manual_ack: bool = False,
        ack_wait: float = DEFAULT_ACK_WAIT,
        retry_limit: int = DEFAULT_RETRY_LIMIT,
        namespace: str = "",
    ) -> Subscription:
        check_topic(topic)
        check_group(group)
        check_start(offset, since, from_start, ack_wait=ack_wait, retry_limit=retry_limit)
        subscribe = events_pb2.Subscribe(topic=topic, group=group, manual_ack=manual_ack)
        if offset is not None:
            subscribe.offset = offset
        elif since is not None:
            subscribe.since.CopyFrom(to_timestamp(since, "since"))
        elif from_start:
            subscribe.from_start = True
        if ack_wait != DEFAULT_ACK_WAIT:
            subscribe.ack_wait_ms = max(1, round(ack_wait * 1000))
        if retry_limit != DEFAULT_RETRY_LIMIT:
            subscribe.retry_limit = retry_limit
        stub = self._stub(events_pb2_grpc.StreamStub)
        call = stub.Consume(metadata=self._md(namespace) or self._metadata)
        try:
            with rpc_errors(self.address):
                await call.write(events_pb2.ConsumeRequest(subscribe=subscribe))
                initial = await call.initial_metadata()
                if metadata_value(initial, _SUBSCRIBED) is None:
                    await call.read()  # raises the call's error
                    raise errors.InternalServerError("the events service did not confirm the subscription")
        except BaseException:
            call.cancel()
            raise
        return GrpcSubscription(call, self.address, manual_ack)

    async def read(
        self, topic: str, *, offset: int = 0, limit: int = 0, namespace: str = ""
    ) -> builtins.list[Event]:
        check_start(offset, None, False)
        if not 0 <= limit <= _UINT32:
            raise errors.BadRequest(f"limit out of range: {limit}")
        request = events_pb2.ReadRequest(topic=topic, offset=offset, limit=limit)
        response = await self._call(events_pb2_grpc.StoreStub, "Read", request, metadata=self._md(namespace))
        return [event_from_proto(e) for e in response.events]

    async def topics(self, *, namespace: str = "") -> builtins.list[TopicInfo]:
        response = await self._call(
            events_pb2_grpc.StoreStub, "Topics", events_pb2.TopicsRequest(), metadata=self._md(namespace)
        )
        return [topic_from_proto(t) for t in response.topics]

    async def groups(self, topic: str, *, namespace: str = "") -> builtins.list[GroupInfo]:
        response = await self._call(
            events_pb2_grpc.StoreStub,
            "Groups",
            events_pb2.GroupsRequest(topic=topic),
            metadata=self._md(namespace),
        )
        return [group_from_proto(g) for g in response.groups]

    async def set_retention(self, topic: str, retention: Retention, *, namespace: str = "") -> None:
        for name, value in (
            ("max_age", retention.max_age),
            ("max_count", retention.max_count),
            ("max_bytes", retention.max_bytes),
        ):
            if value is not None and value <= 0:
                raise errors.BadRequest(f"{name} must be positive: {value}")
        request = events_pb2.RetentionRequest(topic=topic, retention=retention_to_proto(retention))
        await self._call(events_pb2_grpc.StoreStub, "Retention", request, metadata=self._md(namespace))

    async def delete(self, topic: str, *, namespace: str = "") -> None:
        request = events_pb2.DeleteRequest(topic=topic)
        await self._call(events_pb2_grpc.StoreStub, "Delete", request, metadata=self._md(namespace))

    async def reset_group(
        self,
        topic: str,
        group: str,
        *,
        offset: int | None = None,
        since: float | None = None,
        namespace: str = "",
    ) -> int:
        check_start(offset, since, False)
        request = events_pb2.ResetGroupRequest(topic=topic, group=group)
        if offset is not None:
            request.offset = offset
        elif since is not None:
            request.since.CopyFrom(to_timestamp(since, "since"))
        response = await self._call(
            events_pb2_grpc.StoreStub, "ResetGroup", request, metadata=self._md(namespace)
        )
        return int(response.position)
