"""The fake runtime slice (tests and snapshots)."""

from __future__ import annotations

from micro_tui.fake import FakeSession

__all__ = ["FakeRuntime"]


class FakeRuntime:
    def __init__(self, session: FakeSession) -> None:
        self._session = session
