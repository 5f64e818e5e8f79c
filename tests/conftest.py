"""Shared fixtures: every test gets its own MICRO_HOME, no inherited MICRO_* settings and
a keyring of its own; ``server`` is a real in-process micro server on a free port.

:mod:`micro.settings` reads the variables once per process, so ``monkeypatch`` here is
pytest's with one addition: setting or deleting a ``MICRO_*`` variable (and undoing it) has
the settings read again, as a new process would."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import hypothesis
import pytest
from hypothesis import HealthCheck

from micro import settings

# property tests hold on any machine: no per-example deadline and no "generation is slow"
# health check, both of which measure wall-clock time that a loaded machine does not have
hypothesis.settings.register_profile(
    "any-machine", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis.settings.load_profile("any-machine")


class _SettingsMonkeyPatch(pytest.MonkeyPatch):
    """pytest's MonkeyPatch; a change to a MICRO_* variable has micro.settings read again."""

    def setenv(self, name: str, value: str, prepend: str | None = None) -> None:
        super().setenv(name, value, prepend)
        if name.startswith("MICRO_"):
            settings.reload()

    def delenv(self, name: str, raising: bool = True) -> None:
        super().delenv(name, raising)
        if name.startswith("MICRO_"):
            settings.reload()

    def undo(self) -> None:
        super().undo()
        settings.reload()


@pytest.fixture
def monkeypatch() -> Iterator[pytest.MonkeyPatch]:
    patch = _SettingsMonkeyPatch()
    yield patch
    patch.undo()


@pytest.fixture(autouse=True)
def micro_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for key in list(os.environ):
        if key.startswith("MICRO_"):
            monkeypatch.delenv(key)
    home = tmp_path / "home"
    monkeypatch.setenv("MICRO_HOME", str(home))
    # servers the tests start (in-process or `micro server`) never take the real port 8080
    monkeypatch.setenv("MICRO_API_ADDRESS", "127.0.0.1:0")
    # the real keyring code path, against a file-backed keyring inside the test's folder
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("NO_COLOR", "1")
    yield home


@pytest.fixture
async def server(micro_home: Path) -> AsyncIterator[object]:
    """A real micro server (profile ``local``: SQLite) in this process, on a free port,
    without the auth interceptor (tests of auth use ``auth_server`` in tests/server/auth)."""
    from server.app import Server

    srv = Server(data_dir=micro_home / "server", address="127.0.0.1:0", profile="local", auth=False)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop(grace=0)


class BootClock:
    """``time.monotonic`` as on a machine booted a moment ago: it reads about 1 s when the
    test starts (code that takes 0.0 for "never", or assumes an hour of uptime, fails), and
    ``advance`` moves it on without sleeping."""

    def __init__(self, real: Callable[[], float]) -> None:
        self._real = real
        self._offset = real() - 1.0

    def __call__(self) -> float:
        return self._real() - self._offset

    def advance(self, seconds: float) -> None:
        self._offset -= seconds


@pytest.fixture
def just_booted(monkeypatch: pytest.MonkeyPatch) -> BootClock:
    """Every ``time.monotonic()`` of the test reads :class:`BootClock`; event loops keep the
    real clock, so that ``advance`` does not fire their timers (timeouts) early."""
    real = time.monotonic
    clock = BootClock(real)
    monkeypatch.setattr(time, "monotonic", clock)
    monkeypatch.setattr(asyncio.BaseEventLoop, "time", lambda self: real())
    return clock
