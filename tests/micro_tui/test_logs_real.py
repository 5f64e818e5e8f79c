"""The logs area on RealFacade against a real in-process server whose runtime runs a real
service: its lines reach the screen, the filter and pause work on them, and after a kill they
are still there to read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from micro_tui.app import MicroApp
from micro_tui.real import RealFacade
from micro_tui.screens.logs import LogsScreen
from tests._poll import eventually
from tests.micro_tui._greeter import Greeter
from tests.micro_tui.test_logs_screen import info, texts
from tests.micro_tui.test_pilot import until
from tests.micro_tui.test_real import greeter, logged_in

__all__ = ["greeter"]  # the fixture, used by name

TICKER = """\
import time
print("hello from ticker", flush=True)
n = 0
while True:
    n += 1
    print(f"tick {n}", flush=True)
    time.sleep(0.05)
"""


@pytest.fixture
async def runtime(greeter: Greeter, tmp_path: Path) -> AsyncIterator[Any]:
    """The runtime client of the greeter's server, as admin, running ``ticker``."""
    from micro import environment
    from micro.auth.grpc import GrpcAuth
    from micro.runtime import Service
    from micro.runtime.grpc import GrpcRuntime
    from micro.runtime.source import pack

    address = environment.resolve().address
    auth = GrpcAuth(address, namespace="micro")
    token = await auth.token(id="admin", secret="micro", namespace="micro")
    await auth.close()
    client = GrpcRuntime(address, namespace="micro", token=token.access_token)
    folder = tmp_path / "ticker"
    folder.mkdir()
    (folder / "main.py").write_text(TICKER)

    async def chunks() -> AsyncIterator[bytes]:
        yield pack(folder).data

    upload = await client.upload("ticker", chunks())
    await client.create(Service(name="ticker", source=str(folder)), upload=upload)
    try:
        yield client
    finally:
        for service in await client.read():
            await client.delete(service.name)
        await client.close()


async def test_a_running_service_logs_filtered_paused_then_killed_and_still_readable(runtime: Any) -> None:
    from micro_tui import settings

    settings.save(logs_tail=5000)  # the first line too, however long the start takes
    app = MicroApp(RealFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        await logged_in(app, pilot)
        await pilot.press(":", *"logs ticker", "enter")
        await until(pilot, lambda: isinstance(app.screen, LogsScreen))
        screen = app.screen
        assert isinstance(screen, LogsScreen)
        await until(pilot, lambda: "hello from ticker" in texts(screen), seconds=30)
        await until(pilot, lambda: sum(t.startswith("tick ") for t in texts(screen)) >= 3, seconds=30)
        assert "ticker ●" in info(screen)
        assert {e.service for e in screen.view.entries if e.kind == "line"} == {"ticker"}
        # the filter: only ticks ending in 7, over everything kept, highlighted
        await pilot.press("slash", *"7$", "enter")
        await until(pilot, lambda: any(t.startswith("tick ") for t in texts(screen)), seconds=30)
        assert all(t.endswith("7") for t in texts(screen) if t.startswith("tick "))
        await pilot.press("escape")
        # paused: the lines wait; following again writes them
        await pilot.press("f")
        shown = len(screen.view.entries)
        await until(pilot, lambda: screen.buffer.waiting >= 3, seconds=30)
        assert len(screen.view.entries) == shown
        await pilot.press("f")
        await until(pilot, lambda: len(screen.view.entries) >= shown + 3)
        # killed: the service is gone from the runtime, its lines stay on the screen
        await runtime.delete("ticker")

        async def gone() -> bool:
            return "ticker" not in {s.name for s in await runtime.read()}

        await eventually(gone, "ticker is killed", timeout=30)
        screen.view.focus()
        await pilot.press("r")  # what the runtime runs, now (also asked every few seconds)
        gone_note = "ticker: not run any more (killed); its logs stay"
        await until(pilot, lambda: gone_note in texts(screen), seconds=30)
        assert "hello from ticker" in texts(screen)
        kept = len(screen.view.entries)
        assert kept > 5
        # and a new look at it (another tail) still reads them, "killed" last
        box = screen.query_one("#logs-tail")
        box.value = "3"  # type: ignore[attr-defined]
        box.focus()
        await pilot.press("enter")

        def lines() -> list[str]:
            return [e.text for e in screen.view.entries if e.kind == "line"]

        await until(pilot, lambda: lines()[-1:] == ["killed"], seconds=30)
        assert len([t for t in lines() if t.startswith("tick ")]) == 2
