"""Area runtime's facade slice (see :mod:`micro_tui.slices`)."""

from __future__ import annotations

from typing import Protocol

__all__ = ["RuntimeFacade"]


class RuntimeFacade(Protocol):
    """What the runtime area reads and does."""
