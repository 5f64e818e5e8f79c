"""An environment whose server does not answer: say it is unreachable, do not ask for a login."""

from __future__ import annotations

from textual.widgets import Static

from micro_tui.app import MicroApp
from micro_tui.fake import FakeFacade
from micro_tui.widgets.service_detail import ServiceDetail
from tests.micro_tui.test_pilot import header_text, until


async def test_no_login_dialog_and_no_login_advice_while_unreachable() -> None:
    fake = FakeFacade(connected=False, logged_in=False)
    app = MicroApp(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: "○" in header_text(app))
        detail = app.screen.query_one(ServiceDetail)
        await until(pilot, lambda: "Disconnected" in str(detail.query_one(Static).render()))
        assert type(app.screen).__name__ == "ServicesScreen"
        assert not any("Lost" in n.message for n in app._notifications)
        # the server answers: now it wants a login
        fake.session.set_connected(True)
        app.offer_login()
        await until(pilot, lambda: type(app.screen).__name__ == "LoginDialog")
        await until(pilot, lambda: getattr(app.focused, "id", "") == "login-username")
