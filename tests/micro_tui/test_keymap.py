"""A keymap.toml with a mistake: the workspace opens and says once what it ignored."""

from __future__ import annotations

from pathlib import Path

from micro_tui import settings
from micro_tui.app import MicroApp
from micro_tui.fake import FakeFacade
from micro_tui.widgets.service_list import ServiceList
from tests.micro_tui.test_pilot import until


def notices(app: MicroApp) -> list[str]:
    return [n.message for n in app._notifications]


async def test_a_broken_keymap_is_one_notice_not_a_crash(micro_home: Path) -> None:
    micro_home.mkdir(parents=True, exist_ok=True)
    (micro_home / "keymap.toml").write_text('[keymap\n"services.filter" = "f"\n')
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: bool(notices(app)))
        [notice] = notices(app)
        assert "keymap.toml is ignored" in notice
        services = app.screen.query_one(ServiceList)
        await until(pilot, lambda: len(services.names) == 9)


async def test_an_unknown_binding_id_is_named(micro_home: Path) -> None:
    micro_home.mkdir(parents=True, exist_ok=True)
    (micro_home / "keymap.toml").write_text(
        '[keymap]\n"service.filter" = "f"\n"services.refresh" = 5\n"services.invoke" = "x"\n'
    )
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: len(notices(app)) == 2)
        text = "\n".join(notices(app))
        assert "skipped services.refresh" in text
        assert "no binding has the id service.filter" in text
        assert "services.invoke" not in text


def test_keymap_reads_ids_and_keys(micro_home: Path) -> None:
    micro_home.mkdir(parents=True, exist_ok=True)
    (micro_home / "keymap.toml").write_text('services.filter = "f"\n[invoke]\nsend = "f5"\n')
    assert settings.keymap() == ({"services.filter": "f", "invoke.send": "f5"}, "")


async def test_a_key_given_to_two_bindings_is_named_on_start(micro_home: Path) -> None:
    micro_home.mkdir(parents=True, exist_ok=True)
    (micro_home / "keymap.toml").write_text('"services.refresh" = "i"\n')
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: bool(notices(app)))
        [notice] = notices(app)
        assert "i is both services.invoke and services.refresh" in notice
