"""The auth area on the fake facade: the rule form's checks (UI-free), the CLI lines of its
actions, and a read-only environment's refusal."""

from __future__ import annotations

import pytest

from micro_tui.app import MicroApp
from micro_tui.commands import parse
from micro_tui.fake import FakeFacade
from micro_tui.screens.auth import AuthScreen
from micro_tui.slices.auth import AccountSpec, FieldError, RuleInfo, account_cli, check_rule, rule_cli
from tests.micro_tui.test_pilot import until


@pytest.mark.parametrize(
    ("fields", "wrong"),
    [
        (("", "a:b:c", "", "granted", "0"), "id"),
        (("r", "service:store", "", "granted", "0"), "resource"),
        (("r", "service::*", "", "granted", "0"), "resource"),
        (("r", "a:b:c:d", "", "granted", "0"), "resource"),
        (("r", "a:b:c", "", "maybe", "0"), "access"),
        (("r", "a:b:c", "", "denied", "high"), "priority"),
        (("r", "a:b:c", "", "denied", str(2**31)), "priority"),
    ],
)
def test_the_rule_form_refuses_what_the_cli_refuses(fields: tuple[str, ...], wrong: str) -> None:
    with pytest.raises(FieldError) as refused:
        check_rule(*fields)
    assert refused.value.field == wrong


def test_the_rule_form_and_the_cli_lines() -> None:
    rule = check_rule(" r1 ", "service:store:*", "<public>", "denied", "-3")
    assert rule == RuleInfo("r1", "", "service:store:*", "denied", -3)
    assert rule_cli(rule) == (
        "micro auth create rule r1 --resource 'service:store:*' --scope '<public>'"
        " --access denied --priority -3"
    )
    spec = AccountSpec("ci", "service", "", ("service",), "billing")
    line = "micro auth create account ci --type service --scopes service --service billing"
    assert account_cli(spec) == line


async def test_a_read_only_env_refuses_a_new_account_with_the_clis_words() -> None:
    fake = FakeFacade()
    fake.session.set_env("prod")
    app = MicroApp(fake)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        app.sync_session()
        app.run_command(parse(":auth"))
        await until(pilot, lambda: isinstance(app.screen, AuthScreen))
        screen = app.screen
        assert isinstance(screen, AuthScreen)
        await until(pilot, lambda: bool(screen.accounts))
        await pilot.press("n")
        await until(pilot, lambda: not isinstance(app.screen, AuthScreen))
        app.screen.query_one("#account-id").value = "eve"  # type: ignore[attr-defined]
        await pilot.press("enter")
        refused = "Environment 'prod' is read-only: create account eve refused"
        await until(pilot, lambda: any(n.message == refused for n in app._notifications))
        assert "eve" not in [a.id for a in await fake.auth.accounts()]
        # and a delete is refused before any confirm
        await pilot.press("delete")
        await pilot.pause()
        assert isinstance(app.screen, AuthScreen) and app.commands_run == []
