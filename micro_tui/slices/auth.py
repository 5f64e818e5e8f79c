"""Area auth's facade slice (see :mod:`micro_tui.slices`)."""

from __future__ import annotations

from typing import Protocol

__all__ = ["AuthFacade"]


class AuthFacade(Protocol):
    """What the auth area reads and does."""
