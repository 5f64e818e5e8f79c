"""The fake config slice (tests and snapshots)."""

from __future__ import annotations

from micro_tui.fake import FakeSession

__all__ = ["FakeConfig"]


class FakeConfig:
    def __init__(self, session: FakeSession) -> None:
        self._session = session
