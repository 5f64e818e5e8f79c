"""Protobuf ⇄ domain conversions of the store, shared by :mod:`micro.store.grpc` and the
server's handler.

On the wire ``Record.expiry`` is the whole number of seconds the record has left, rounded
up so that a live record never shows 0 (which means "never"). ``WriteOptions.ttl``
(seconds to live) wins over ``WriteOptions.expiry`` (an absolute unix time, as in v3),
which wins over ``Record.expiry``.
"""

from __future__ import annotations

import math

from micro import errors
from micro.proto.store import store_pb2
from micro.store import Order, Record

__all__ = [
    "order_from_proto",
    "order_to_proto",
    "record_from_proto",
    "record_to_proto",
    "ttl_to_wire",
    "wire_seconds",
    "write_ttl",
    "write_version",
]

# an absolute expiry already in the past still writes the record, already expired
_ALREADY_EXPIRED = 1e-9
# the wire's int64 seconds
MAX_WIRE_SECONDS = 2**63 - 1


def wire_seconds(seconds: float | None) -> int:
    """Seconds as the wire carries them: whole, rounded up, 0 for None (= never)."""
    if not seconds or seconds <= 0:
        return 0
    return math.ceil(min(seconds, MAX_WIRE_SECONDS))


def ttl_to_wire(seconds: float | None) -> int:
    """A write's time to live for ``WriteOptions.ttl``; a negative one stays negative so
    that the server refuses it; one the wire cannot carry is refused here."""
    if seconds is not None and not -MAX_WIRE_SECONDS <= seconds <= MAX_WIRE_SECONDS:
        raise errors.BadRequest(f"expiry out of range: {seconds:g} seconds")
    if seconds is not None and seconds < 0:
        return math.floor(seconds)
    return wire_seconds(seconds)


def order_to_proto(order: Order) -> store_pb2.Order.ValueType:
    return store_pb2.DESC if order is Order.DESC else store_pb2.ASC


def order_from_proto(value: int) -> Order:
    return Order.DESC if value == store_pb2.DESC else Order.ASC


def record_to_proto(record: Record) -> store_pb2.Record:
    # fields left at their defaults are not passed: cheaper on this hot path
    pb = store_pb2.Record(key=record.key, value=record.value, version=record.version)
    if record.expiry:
        pb.expiry = wire_seconds(record.expiry)
    if record.metadata:
        pb.metadata.update(record.metadata)
    return pb


def record_from_proto(pb: store_pb2.Record) -> Record:
    return Record(
        key=pb.key,
        value=pb.value,
        expiry=float(pb.expiry) if pb.expiry > 0 else None,
        metadata=dict(pb.metadata) if pb.metadata else {},
        version=pb.version,
    )


def write_ttl(record: store_pb2.Record, options: store_pb2.WriteOptions, now: float) -> float | None:
    """The time to live a write asks for (None = never). Inputs are assumed non-negative."""
    if options.ttl > 0:
        return float(options.ttl)
    if options.expiry > 0:
        return max(options.expiry - now, _ALREADY_EXPIRED)
    if record.expiry > 0:
        return float(record.expiry)
    return None


def write_version(options: store_pb2.WriteOptions) -> int | None:
    """The version a conditional write expects; None when the write is unconditional."""
    return options.version if options.HasField("version") else None
