"""The facade contract suites' harness: one facade, fake or real, and how to change the
registry under it. The ``harness`` fixture (tests/micro_tui/conftest.py) yields one of each."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from micro_tui.facade import Facade

__all__ = ["Harness", "logged_in"]


@dataclass
class Harness:
    facade: Facade
    register: Callable[[], Awaitable[None]]
    """Put the greeter back in the registry."""
    deregister: Callable[[], Awaitable[None]]
    """Take the greeter out of the registry (the watch must see it)."""
    address: str = ""
    """The real in-process server's address ("" for the fake): a suite changes state there
    with the framework's own clients, as another user of the server would."""


async def logged_in(harness: Harness) -> Facade:
    session = harness.facade.session
    assert await session.login("admin", "micro") == "admin"
    return harness.facade
