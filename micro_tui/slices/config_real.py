"""The config slice over a real server."""

from __future__ import annotations

from micro_tui.real import RealSession

__all__ = ["RealConfig"]


class RealConfig:
    def __init__(self, session: RealSession) -> None:
        self._session = session
