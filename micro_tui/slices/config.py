"""Area config's facade slice (see :mod:`micro_tui.slices`)."""

from __future__ import annotations

from typing import Protocol

__all__ = ["ConfigFacade"]


class ConfigFacade(Protocol):
    """What the config area reads and does."""
