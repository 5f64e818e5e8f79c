"""The call a service's handler is serving: its caller, namespace, deadline and service.

:func:`serving` wraps each handler of a :class:`micro.Service` (the service's interceptor,
:mod:`micro._debug`, applies it once per method): per call it checks the caller (when the
service checks callers) and sets a :class:`Call` in a context variable inside the handler's
task, reset when the handler returns. :func:`micro.auth.account` reads it, and
:mod:`micro.client` shortens the timeout of calls made while serving to the time the
incoming call has left, and names the serving service in ``micro-from-service``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from micro._grpc import NAMESPACE_KEY, map_handler

if TYPE_CHECKING:
    from micro.auth import Account

__all__ = ["Call", "Check", "current", "serving", "timeout"]

# the caller of a call, from its grpc context (None: anonymous, or not checked)
Check = Callable[[Any], Awaitable["Account | None"]]


@dataclass(frozen=True, slots=True)
class Call:
    account: Account | None
    namespace: str
    deadline: float | None  # time.monotonic() by which the caller wants the reply; None: none
    service: str


_call: ContextVar[Call | None] = ContextVar("micro_call", default=None)


def current() -> Call | None:
    """The call being served by this task (None outside a handler)."""
    return _call.get()


def timeout(own: float | None) -> float | None:
    """The timeout of an outgoing call: ``own``, or the time the served call has left when
    that is shorter (or ``own`` is None)."""
    call = _call.get()
    if call is None or call.deadline is None:
        return own
    left = max(call.deadline - time.monotonic(), 0.0)
    return left if own is None or left < own else own


def _enter(context: Any, account: Account | None, namespace: str, service: str) -> Any:
    remaining = context.time_remaining()
    deadline = None if remaining is None else time.monotonic() + remaining
    called = namespace
    for key, value in context.invocation_metadata() or ():
        if key == NAMESPACE_KEY and value:
            called = value
            break
    return _call.set(Call(account, called, deadline, service))


def serving(handler: Any, check: Check | None, *, namespace: str, service: str) -> Any:
    """A copy of ``handler`` that checks its caller with ``check`` (if any), then serves with
    the :class:`Call` set (``namespace``: the service's, for calls that name none)."""

    def unary(behavior: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def wrapper(request: Any, context: Any) -> Any:
            account = await check(context) if check is not None else None
            token = _enter(context, account, namespace, service)
            try:
                return await behavior(request, context)
            finally:
                _call.reset(token)

        return wrapper

    def stream(behavior: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
        async def wrapper(request: Any, context: Any) -> AsyncIterator[Any]:
            account = await check(context) if check is not None else None
            token = _enter(context, account, namespace, service)
            try:
                async for item in behavior(request, context):
                    yield item
            finally:
                with contextlib.suppress(ValueError):  # closed from another context
                    _call.reset(token)

        return wrapper

    return map_handler(handler, unary, stream)
