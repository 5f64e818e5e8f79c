"""The workspace at the spec's minimum size (80×24): nothing the header, footer or
endpoints table must show is cut off."""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import DataTable
from textual.widgets._footer import FooterKey

from micro_tui.app import MicroApp
from micro_tui.fake import FakeFacade, greeter_service
from micro_tui.screens.invoke import InvokeScreen
from micro_tui.widgets.micro_header import MicroHeader
from micro_tui.widgets.service_list import ServiceList
from tests.micro_tui.test_pilot import until


def _header_line(app: MicroApp) -> str:
    """The header as painted: what does not fit its width is not there."""
    return app.screen.query_one(MicroHeader).render_line(0).text


def _help_key_visible(app: MicroApp) -> bool:
    """``? Help`` is in the footer, and no key there is cut off by the palette's key."""
    keys = list(app.screen.query(FooterKey))
    palette = next(k for k in keys if k.has_class("-command-palette"))
    others = [k for k in keys if k is not palette]
    if any(k.region.right > palette.region.x for k in others):
        return False
    return any(k.action == "help" and k.region.width > 0 for k in others)


async def _greeter_shown(app: MicroApp, pilot: Any) -> None:
    services = app.screen.query_one(ServiceList)
    await until(pilot, lambda: "greeter" in services.names)
    services.focus()
    services.highlighted = services.shown_names().index("greeter")
    detail = app.screen.query_one("#detail")
    await until(pilot, lambda: bool(detail.versions) and detail.versions[0].name == "greeter")
    await pilot.pause()


@pytest.mark.parametrize("env", ["local", "staging", "prod"])
async def test_services_area_fits_80x24(env: str) -> None:
    fake = FakeFacade()
    fake.session.set_env(env)
    app = MicroApp(fake)
    async with app.run_test(size=(80, 24)) as pilot:
        await _greeter_shown(app, pilot)
        line = _header_line(app)
        for must in (f"{env} ", " micro ", "admin", "●", "services"):
            assert must in line, f"{must!r} missing from header {line!r}"
        assert ("READ-ONLY" in line) == (env == "prod")
        assert _help_key_visible(app), "the footer lost '? Help'"
        assert app.screen.query_one("#list-pane").size.width < 34
        table = app.screen.query_one("#endpoints", DataTable)
        assert table.virtual_size.width <= table.scrollable_content_region.width, (
            "the endpoints table is cut off"
        )


@pytest.mark.parametrize("env", ["local", "prod"])
async def test_invoke_header_keeps_the_breadcrumbs_at_80(env: str) -> None:
    fake = FakeFacade()
    fake.session.set_env(env)
    app = MicroApp(fake)
    async with app.run_test(size=(80, 24)) as pilot:
        await _greeter_shown(app, pilot)
        version = greeter_service()
        app.open_invoke(version, next(e for e in version.endpoints if e.name == "Greeter.Stream"))
        await until(pilot, lambda: isinstance(app.screen, InvokeScreen))
        # the footer has the invoke screen's keys, laid out, before '? Help' is looked for
        await until(
            pilot, lambda: any(k.action == "send" and k.region.width for k in app.screen.query(FooterKey))
        )
        await pilot.pause()
        line = _header_line(app)
        for must in (f"{env} ", " micro ", "admin", "●", "Greeter.Stream"):
            assert must in line, f"{must!r} missing from header {line!r}"
        assert _help_key_visible(app), "the footer lost '? Help'"


async def test_wide_header_is_whole() -> None:
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        await _greeter_shown(app, pilot)
        line = _header_line(app).strip()
        assert line == "micro │ env local  ns micro  as admin  127.0.0.1:8081  ● connected  │ services"
        assert app.screen.query_one("#list-pane").size.width == 34
        shown = [k.description for k in app.screen.query(FooterKey)]
        assert shown[-3:] == ["Envs", "Namespaces", "palette"] and "Help" in shown
