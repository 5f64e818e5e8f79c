"""Area events's facade slice (see :mod:`micro_tui.slices`)."""

from __future__ import annotations

from typing import Protocol

__all__ = ["EventsFacade"]


class EventsFacade(Protocol):
    """What the events area reads and does."""
