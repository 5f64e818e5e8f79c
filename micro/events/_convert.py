"""Protobuf ⇄ domain conversions of events, shared by :mod:`micro.events.grpc` and the
server's handler. Times are unix seconds (float) in the domain, ``Timestamp`` on the wire."""

from __future__ import annotations

import math

from google.protobuf import timestamp_pb2

from micro import errors
from micro.events import Event, GroupInfo, Retention, TopicInfo
from micro.proto.events import events_pb2

__all__ = [
    "check_timestamp",
    "event_from_proto",
    "event_to_proto",
    "group_from_proto",
    "group_to_proto",
    "retention_from_proto",
    "retention_to_proto",
    "seconds",
    "timestamp",
    "topic_from_proto",
    "topic_to_proto",
]


# what a Timestamp may hold: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z
MIN_SECONDS = -62_135_596_800
MAX_SECONDS = 253_402_300_799


def check_timestamp(field: str, ts: timestamp_pb2.Timestamp) -> float:
    """``ts`` in unix seconds, or a BadRequest naming ``field`` when it is out of range."""
    if not (MIN_SECONDS <= ts.seconds <= MAX_SECONDS and 0 <= ts.nanos <= 999_999_999):
        raise errors.BadRequest(f"{field} out of range: use a time from year 1 to 9999")
    return seconds(ts)


def timestamp(seconds: float, field: str = "timestamp") -> timestamp_pb2.Timestamp:
    """``seconds`` as a Timestamp; a BadRequest naming ``field`` when no Timestamp can hold it."""
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:  # NaN too
        raise errors.BadRequest(f"{field} out of range: use a time from year 1 to 9999")
    whole = math.floor(seconds)
    return timestamp_pb2.Timestamp(seconds=whole, nanos=min(int((seconds - whole) * 1e9), 999_999_999))


def seconds(ts: timestamp_pb2.Timestamp) -> float:
    return ts.seconds + ts.nanos / 1e9


def event_to_proto(event: Event, *, payload: bool = True) -> events_pb2.Event:
    """``event`` on the wire (every consumer's hot path: fields set in place, no sub-message
    built and copied)."""
    pb = events_pb2.Event(id=event.id, topic=event.topic, offset=event.offset, attempt=event.attempt)
    if payload:
        pb.payload = event.payload
    whole = math.floor(event.timestamp)
    stamp = pb.timestamp
    stamp.seconds = whole
    stamp.nanos = min(int((event.timestamp - whole) * 1e9), 999_999_999)
    if event.metadata:
        pb.metadata.update(event.metadata)
    return pb


def event_from_proto(pb: events_pb2.Event) -> Event:
    return Event(
        id=pb.id,
        topic=pb.topic,
        offset=pb.offset,
        timestamp=seconds(pb.timestamp),
        payload=pb.payload,
        metadata=dict(pb.metadata) if pb.metadata else {},
        attempt=pb.attempt or 1,
    )


def retention_to_proto(retention: Retention) -> events_pb2.Retention:
    return events_pb2.Retention(
        max_age_ms=round(retention.max_age * 1000) if retention.max_age is not None else 0,
        max_count=retention.max_count or 0,
        max_bytes=retention.max_bytes or 0,
    )


def retention_from_proto(pb: events_pb2.Retention) -> Retention:
    return Retention(
        max_age=pb.max_age_ms / 1000 if pb.max_age_ms else None,
        max_count=pb.max_count or None,
        max_bytes=pb.max_bytes or None,
    )


def topic_to_proto(topic: TopicInfo) -> events_pb2.Topic:
    return events_pb2.Topic(
        name=topic.name,
        events=topic.events,
        first=topic.first,
        last=max(topic.next - 1, 0),
        next=topic.next,
        retention=retention_to_proto(topic.retention),
    )


def topic_from_proto(pb: events_pb2.Topic) -> TopicInfo:
    return TopicInfo(pb.name, pb.events, pb.first, pb.next, retention_from_proto(pb.retention))


def group_to_proto(group: GroupInfo) -> events_pb2.Group:
    return events_pb2.Group(
        name=group.name,
        position=group.position,
        lag=group.lag,
        consumers=group.consumers,
        pending=group.pending,
    )


def group_from_proto(pb: events_pb2.Group) -> GroupInfo:
    return GroupInfo(pb.name, pb.position, pb.lag, pb.consumers, pb.pending)
