"""A deterministic workspace: the fake facade, no cursor blink, no background pinging."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from micro_tui import app as app_module


@pytest.fixture(autouse=True)
def quiet_monitor(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(app_module, "PING_SECONDS", 3600.0)
    # the suite-wide NO_COLOR would make every snapshot (and theme) monochrome
    monkeypatch.delenv("NO_COLOR", raising=False)
    yield
