"""The one way tests wait: poll a condition until a deadline, and fail loudly with a message
saying what did not happen (never a fixed sleep before an assertion)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

__all__ = ["eventually", "eventually_sync"]

Check = Callable[[], bool] | Callable[[], Awaitable[bool]]


async def eventually(check: Check, what: str, *, timeout: float = 10.0, interval: float = 0.02) -> None:
    """Wait until ``check()`` (plain or async) is true.

    Raises:
        AssertionError: ``what`` did not happen within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {timeout:g}s")
        await asyncio.sleep(interval)


def eventually_sync(
    check: Callable[[], bool], what: str, *, timeout: float = 10.0, interval: float = 0.02
) -> None:
    """:func:`eventually` for code outside an event loop (CLI subprocess tests)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {timeout:g}s")
        time.sleep(interval)
