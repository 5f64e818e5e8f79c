"""The call a handler is serving: its caller, namespace, deadline and service — one context
for the framework's services and the server's core services.

:func:`admission` is what each handler of a :class:`micro.Service` runs first (the
service's handler wrapper, :mod:`micro._debug`, builds it once per method): per call it
checks the caller (when the service checks callers) and sets a :class:`Call` in a context
variable inside the handler's task (:func:`serving` wraps a handler with the same, reset when
the handler returns). :func:`micro.auth.account` reads it, and
:mod:`micro.client` shortens the timeout of calls made while serving to the time the
incoming call has left, and names the serving service in ``micro-from-service``.

The server's call boundary sets the same context (:func:`enter`, from
:mod:`server.auth.context`) with the :class:`~micro.auth.boundary.Caller` it admitted, whose
token the proxy mints the next hop's from; :func:`serving` keeps that caller.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from micro._grpc import NAMESPACE_KEY, Admit, map_handler

if TYPE_CHECKING:
    from micro.auth import Account
    from micro.auth.boundary import Caller

__all__ = ["Call", "Check", "admission", "current", "enter", "serving", "timeout"]

# the caller of a call, from its grpc context (None: anonymous, or not checked)
Check = Callable[[Any], Awaitable["Account | None"]]


# not frozen: one is built per call served, and a frozen dataclass's __init__ costs about
# three times a plain one's (treat it as read-only all the same)
@dataclass(slots=True)
class Call:
    account: Account | None
    namespace: str
    deadline: float | None  # time.monotonic() by which the caller wants the reply; None: none
    service: str
    caller: Caller | None = None  # as the server's call boundary admitted it (None elsewhere)


_call: ContextVar[Call | None] = ContextVar("micro_call", default=None)


def current() -> Call | None:
    """The call being served by this task (None outside a handler)."""
    return _call.get()


def enter(call: Call) -> object:
    """Make ``call`` the current one in this task (the server's boundary; its handlers run in
    a task of their own, so nothing needs resetting)."""
    return _call.set(call)


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
    outer = _call.get()
    return _call.set(Call(account, called, deadline, service, outer.caller if outer is not None else None))


def admission(check: Check | None, *, namespace: str, service: str) -> Admit:
    """What :func:`serving` does before the handler, as the ``admit`` of
    :func:`micro._grpc.wrap_handler` (one coroutine per call for the whole wrapper). Nothing
    is reset after the handler: grpc serves each call in a task of its own."""

    async def admit(context: Any, request: Any) -> None:
        account = await check(context) if check is not None else None
        _enter(context, account, namespace, service)

    return admit


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
