"""A deterministic workspace: the fake facade, no cursor blink, no background pinging."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from micro_tui import app as app_module
from tests.micro_tui.contract import Harness


@pytest.fixture(autouse=True)
def quiet_monitor(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(app_module, "PING_SECONDS", 3600.0)
    # the suite-wide NO_COLOR would make every snapshot (and theme) monochrome
    monkeypatch.delenv("NO_COLOR", raising=False)
    yield


@pytest.fixture(params=["fake", "real"])
async def harness(request: pytest.FixtureRequest, micro_home: Path) -> AsyncIterator[Harness]:
    if request.param == "fake":
        from micro_tui.fake import FakeFacade, greeter_service

        fake = FakeFacade(logged_in=False)

        async def fake_register() -> None:
            fake.registry.register(greeter_service())

        async def fake_deregister() -> None:
            fake.registry.deregister("greeter")

        yield Harness(fake, fake_register, fake_deregister)
        return
    from micro_tui.real import RealFacade
    from tests.micro_tui.test_real import serving_greeter

    async with serving_greeter(micro_home) as greeter:
        real = RealFacade()
        try:
            yield Harness(real, greeter.register, greeter.deregister, real.session.address)
        finally:
            real.session.reset_registry()
