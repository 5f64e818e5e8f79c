"""The broker: ephemeral pub/sub with queue groups.

Nothing is stored: a message reaches the subscribers connected when it is published. Every
subscriber of a topic gets every message, except that within a queue group each message goes
to one member. Topics are isolated per namespace.

Each subscriber has a bounded queue (:data:`QUEUE_MESSAGES` messages, :data:`QUEUE_BYTES`
bytes); a message that does not fit is dropped for that subscriber and counted — in the
publisher's :class:`Delivery` and in the ``dropped`` of the subscriber's next message — so a
slow subscriber cannot make the broker hold without bound.

Backends: :mod:`micro.broker.memory` (in-process; the server's broker and ``micro.testing``),
:mod:`micro.broker.grpc` (the broker service, the default inside services).

Inside a service::

    await micro.broker.publish("news", "hello", header={"lang": "en"})
    async with micro.broker.subscribe("news", queue="mailer") as messages:
        async for message in messages:
            print(message.body)
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import TracebackType

from micro import errors

__all__ = [
    "MAX_MESSAGE_BYTES",
    "QUEUE_BYTES",
    "QUEUE_MESSAGES",
    "Broker",
    "Delivery",
    "Message",
    "Subscription",
    "check_topic",
    "default",
    "publish",
    "set_default",
    "subscribe",
]

#: the largest body (plus header) one message may carry
MAX_MESSAGE_BYTES = 1024 * 1024
#: how many messages, and how many bytes, a subscriber's queue holds before messages drop
QUEUE_MESSAGES = 1024
QUEUE_BYTES = 8 * 1024 * 1024

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,255}")


def check_topic(topic: str, field_name: str = "topic") -> None:
    """Refuse a topic (or queue) name outside ``[A-Za-z0-9_.-]{1,255}``."""
    if not topic:
        raise errors.BadRequest(f"{field_name} is required")
    if not _NAME.fullmatch(topic):
        raise errors.BadRequest(f"invalid {field_name} {topic[:64]!r}: use 1-255 of A-Z a-z 0-9 _ . -")


def message_size(body: bytes, header: dict[str, str]) -> int:
    """What a message weighs against the limits: body and header bytes."""
    size = len(body)
    for key, value in header.items():
        size += len(key.encode(errors="replace")) + len(value.encode(errors="replace"))
    return size


def check_message(body: bytes, header: dict[str, str]) -> None:
    """Refuse a message over :data:`MAX_MESSAGE_BYTES`."""
    size = message_size(body, header)
    if size > MAX_MESSAGE_BYTES:
        raise errors.TooLarge(f"message too large: {size} bytes (limit {MAX_MESSAGE_BYTES})")


@dataclass(slots=True)
class Message:
    """One message. ``dropped``: on a subscription, how many messages were dropped for this
    subscriber (its queue was full) since the previous one it received."""

    body: bytes
    header: dict[str, str] = field(default_factory=dict)
    dropped: int = 0


@dataclass(frozen=True, slots=True)
class Delivery:
    """What a publish reached: subscribers (a queue group counts once) that got the
    message, and those whose queue was full."""

    delivered: int = 0
    dropped: int = 0


class Subscription(ABC):
    """An open subscription: an async iterator of :class:`Message` (use it with ``async
    with`` so it is closed). It is live — receives what is published — once
    :meth:`Broker.subscribe` has returned it."""

    def __aiter__(self) -> AsyncIterator[Message]:
        return self

    @abstractmethod
    async def __anext__(self) -> Message: ...

    @abstractmethod
    async def close(self) -> None:
        """Stop receiving; an iteration in progress ends."""

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


class Broker(ABC):
    """Ephemeral pub/sub. An empty ``namespace`` means the caller's (``micro`` in memory)."""

    @abstractmethod
    async def publish(self, topic: str, message: Message, *, namespace: str = "") -> Delivery:
        """Hand ``message`` to the topic's subscribers now connected."""

    @abstractmethod
    async def subscribe(self, topic: str, *, queue: str = "", namespace: str = "") -> Subscription:
        """A live subscription to ``topic``; with ``queue``, one member of that group."""

    async def drop_namespace(self, namespace: str) -> None:  # noqa: B027 - optional hook
        """End the subscriptions of a deleted ``namespace`` (a server's broker does)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""


# --- module-level client: ``await micro.broker.publish("news", "hi")`` inside a service -------
# The broker service at MICRO_PROXY in MICRO_NAMESPACE, one client per running event loop.
# Tests replace it with ``set_default`` (``micro.testing``'s fixture does).

_default: Broker | None = None


def set_default(broker: Broker | None) -> None:
    """Use ``broker`` for the module-level functions (None: the broker service again)."""
    global _default
    _default = broker


def default() -> Broker:
    """The broker the module-level functions use."""
    if _default is not None:
        return _default
    from micro import _platform
    from micro.broker.grpc import GrpcBroker

    return _platform.loop_client(
        "micro.broker", lambda address, ns, token: GrpcBroker(address, namespace=ns, token=token)
    )


async def _client() -> Broker:
    if _default is None:
        from micro import _platform

        await _platform.authenticate()
    return default()


async def publish(topic: str, body: str | bytes, *, header: dict[str, str] | None = None) -> Delivery:
    """Publish ``body`` (str is UTF-8 encoded) to ``topic`` in the service's namespace."""
    raw = body.encode() if isinstance(body, str) else body
    return await (await _client()).publish(topic, Message(body=raw, header=dict(header or {})))


async def subscribe(topic: str, *, queue: str = "") -> Subscription:
    """A live subscription to ``topic`` in the service's namespace (``async with`` it)."""
    return await (await _client()).subscribe(topic, queue=queue)
