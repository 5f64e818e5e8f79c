"""Shared fixtures: every test gets its own MICRO_HOME, no inherited MICRO_* settings and
a keyring of its own; ``server`` is a real in-process micro server on a free port."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def micro_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for key in list(os.environ):
        if key.startswith("MICRO_"):
            monkeypatch.delenv(key)
    home = tmp_path / "home"
    monkeypatch.setenv("MICRO_HOME", str(home))
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
