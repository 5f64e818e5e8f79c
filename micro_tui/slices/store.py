"""Area store's facade slice (see :mod:`micro_tui.slices`)."""

from __future__ import annotations

from typing import Protocol

__all__ = ["StoreFacade"]


class StoreFacade(Protocol):
    """What the store area reads and does."""
