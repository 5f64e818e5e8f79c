"""The workspace's top-level areas, one row each: key, number, title, screen, facade slice.

The app makes one Textual mode per row (``1``–``7`` switch between them). A screen is named,
not imported: its module loads the first time its area opens, so the first paint pays only
for the services area. An area that is not built yet shows :class:`PlaceholderScreen
<micro_tui.screens.placeholder.PlaceholderScreen>` and has no facade slice.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["AREAS", "Area", "area", "screen_factory"]

PLACEHOLDER = "micro_tui.screens.placeholder:PlaceholderScreen"


@dataclass(frozen=True, slots=True)
class Area:
    key: str
    """The mode name, the ``:`` command and the binding id's last word (``app.area.<key>``)."""
    number: int
    title: str
    screen: str
    """``module:Class`` of its first screen, imported when the area first opens."""
    facade: tuple[str, ...]
    """The :class:`~micro_tui.facade.Facade` slices its screens use besides ``session``
    (none: not built yet)."""
    summary: str
    cli: str = ""
    """The CLI command that does some of it today ("" when there is none yet)."""


AREAS: tuple[Area, ...] = (
    Area(
        "services",
        1,
        "services",
        "micro_tui.screens.services:ServicesScreen",
        ("registry", "calls"),
        "the live service list, a service's versions, nodes and endpoints; invoke an endpoint",
    ),
    Area(
        "logs",
        2,
        "logs",
        "micro_tui.screens.logs:LogsScreen",
        ("logs",),
        "one or several services' logs merged, follow/pause, wrap, timestamps, filter",
    ),
    Area(
        "events",
        3,
        "events",
        "micro_tui.screens.events:EventsScreen",
        ("events",),
        "topics with counts, a live consumer view with replay, a publish form",
    ),
    Area(
        "store",
        4,
        "store",
        "micro_tui.screens.store:StoreScreen",
        ("store",),
        "database/table picker, paged keys, value pane, TTL; write/edit/delete behind a confirm",
        cli="micro store",
    ),
    Area(
        "config",
        5,
        "config",
        "micro_tui.screens.config:ConfigScreen",
        ("config",),
        "path tree, JSON value editor, diff before save, secret masking",
        cli="micro config",
    ),
    Area(
        "runtime",
        6,
        "runtime",
        "micro_tui.screens.runtime:RuntimeScreen",
        ("runtime",),
        "micro status as a live table; run, update, kill, open logs",
    ),
    Area(
        "auth",
        7,
        "auth",
        "micro_tui.screens.auth:AuthScreen",
        ("auth",),
        "accounts and rules of the namespace; create/delete with forms",
        cli="micro auth",
    ),
)
_BY_KEY = {a.key: a for a in AREAS}


def area(key: str) -> Area:
    """The area named ``key`` (KeyError when there is none)."""
    return _BY_KEY[key]


def screen_factory(row: Area) -> Callable[[], Any]:
    """What makes the area's screen, importing its module on the first call."""

    def make() -> Any:
        module, _, name = row.screen.partition(":")
        screen_class = getattr(importlib.import_module(module), name)
        return screen_class(row) if row.screen == PLACEHOLDER else screen_class()

    return make
