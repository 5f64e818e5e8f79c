"""The runtime slice over a real server."""

from __future__ import annotations

from micro_tui.real import RealSession

__all__ = ["RealRuntime"]


class RealRuntime:
    def __init__(self, session: RealSession) -> None:
        self._session = session
