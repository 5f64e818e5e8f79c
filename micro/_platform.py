"""Where a service finds its platform, and state kept per running event loop.

A service learns everything from ``MICRO_*`` variables (set by the runtime, or by hand):
``MICRO_PROXY`` (the server's gRPC address), ``MICRO_NAMESPACE``, ``MICRO_SERVICE_NAME`` /
``MICRO_SERVICE_VERSION`` and its credentials (``MICRO_AUTH_FILE``, ``MICRO_AUTH_ID`` +
``MICRO_AUTH_SECRET`` or ``MICRO_TOKEN``; the auth feature plugs in through
:data:`token_provider`).

gRPC channels belong to the event loop that created them, so module-level clients keep
theirs in :func:`loop_state`: one bag per running loop, closed when that loop shuts down
(``asyncio.run`` and pytest's per-test loops call ``shutdown_asyncgens``, which runs the
closers while the loop still runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

__all__ = [
    "DEFAULT_NAMESPACE",
    "DEFAULT_PROXY",
    "LoopState",
    "loop_state",
    "namespace",
    "proxy_address",
    "service_name",
    "token",
    "token_provider",
]

log = logging.getLogger(__name__)

DEFAULT_PROXY = "127.0.0.1:8081"
DEFAULT_NAMESPACE = "micro"

# The auth feature sets this to a function returning a current access token (or None); it
# is asked before MICRO_TOKEN so that refreshed service credentials win.
token_provider: Callable[[], str | None] | None = None

# The name of the service running in this process (set by micro.Service), sent as
# ``micro-from-service`` on outgoing calls.
_current_service = ""


def proxy_address() -> str:
    return os.environ.get("MICRO_PROXY") or DEFAULT_PROXY


def namespace() -> str:
    return os.environ.get("MICRO_NAMESPACE") or DEFAULT_NAMESPACE


def token() -> str | None:
    """The access token outgoing calls carry, or None."""
    if token_provider is not None:
        value = token_provider()
        if value:
            return value
    return os.environ.get("MICRO_TOKEN") or None


def service_name() -> str:
    """The name of the service this process runs ("" outside a service)."""
    return _current_service


def set_service_name(name: str) -> None:
    global _current_service
    _current_service = name


class LoopState:
    """Values cached for one event loop, and closers run when that loop shuts down."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self._closers: list[Callable[[], Awaitable[None]]] = []
        self._sentinel: AsyncIterator[None] | None = None

    def on_close(self, closer: Callable[[], Awaitable[None]]) -> None:
        self._closers.append(closer)

    async def aclose(self) -> None:
        closers, self._closers = self._closers, []
        self.values.clear()
        for closer in reversed(closers):
            try:
                await closer()
            except Exception:  # a closer failing must not keep the others from running
                log.debug("closing a loop-bound client failed", exc_info=True)


_states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopState] = weakref.WeakKeyDictionary()


async def _sentinel(state: LoopState) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await state.aclose()


def loop_state() -> LoopState:
    """The state of the running loop (created on first use)."""
    loop = asyncio.get_running_loop()
    state = _states.get(loop)
    if state is None:
        state = LoopState()
        _states[loop] = state
        # An async generator started inside the loop is registered with it (the loop's
        # first-iteration hook) and closed by loop.shutdown_asyncgens(): the one hook
        # asyncio offers to run code at the end of asyncio.run while the loop still runs.
        gen = _sentinel(state)
        step = gen.__anext__()
        with contextlib.suppress(StopIteration):
            step.send(None)  # type: ignore[attr-defined]
        state._sentinel = gen
    return state
