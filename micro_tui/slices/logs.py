"""Area logs's facade slice (see :mod:`micro_tui.slices`)."""

from __future__ import annotations

from typing import Protocol

__all__ = ["LogsFacade"]


class LogsFacade(Protocol):
    """What the logs area reads and does."""
