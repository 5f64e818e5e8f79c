"""The auth area on RealFacade against a real in-process server: an admin creates and
deletes accounts (the secret shown once) and rules (the resource form checked first); a
plain user sees what the server lets it see and meets the server's refusal otherwise."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from textual.widgets import DataTable, Input, Select, Static

from micro_tui.app import MicroApp
from micro_tui.dialogs.auth_account import AccountDialog
from micro_tui.dialogs.auth_rule import RuleDialog
from micro_tui.dialogs.auth_secret import SecretDialog
from micro_tui.dialogs.confirm import ConfirmDialog
from micro_tui.dialogs.login_dialog import LoginDialog
from micro_tui.real import RealFacade
from micro_tui.screens.auth import AuthScreen
from tests.micro_tui._greeter import Greeter
from tests.micro_tui.test_pilot import login_ready, until
from tests.micro_tui.test_real import greeter, logged_in

__all__ = ["greeter"]  # the fixture, used by name


@pytest.fixture
async def admin(greeter: Greeter) -> AsyncIterator[Any]:
    """The server's auth as its admin (as the CLI would be)."""
    from micro import environment
    from micro.auth.grpc import GrpcAuth

    address = environment.resolve().address
    auth = GrpcAuth(address, namespace="micro")
    token = await auth.token(id="admin", secret="micro", namespace="micro")
    await auth.close()
    client = GrpcAuth(address, namespace="micro", token=token.access_token)
    yield client
    await client.close()


async def _auth_area(app: MicroApp, pilot: Any) -> AuthScreen:
    app.open_area("auth")
    await until(pilot, lambda: isinstance(app.screen, AuthScreen))
    screen = app.screen
    assert isinstance(screen, AuthScreen)
    await until(pilot, lambda: bool(screen.rules), seconds=10)
    return screen


def _note(screen: AuthScreen, pane: str) -> str:
    return str(screen.query_one(f"#auth-{pane}-note", Static).render())


async def test_an_admin_creates_and_deletes_an_account_and_a_rule(admin: Any) -> None:
    app = MicroApp(RealFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        await logged_in(app, pilot)
        screen = await _auth_area(app, pilot)
        screen.query_one("#auth-accounts", DataTable).focus()
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, AccountDialog))
        dialog = app.screen
        dialog.query_one("#account-id", Input).value = "ci-bot"
        dialog.query_one("#account-type", Select).value = "service"
        dialog.query_one("#account-scopes", Input).value = "service, deploy"
        dialog.query_one("#account-service", Input).value = "billing"
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, SecretDialog), seconds=10)
        secret = app.screen.query_one("#account-secret", Static)
        shown = str(secret.render())
        line = "micro auth create account ci-bot --type service --scopes service,deploy --service billing"
        assert app.commands_run == [line]
        made = {a.id: a for a in await admin.accounts(namespace="micro")}["ci-bot"]
        assert (made.type, made.scopes, made.service) == ("service", ["service", "deploy"], "billing")
        token = await admin.token(id="ci-bot", secret=shown, namespace="micro")  # the secret works
        assert token.access_token
        await pilot.press("enter")
        await until(pilot, lambda: "ci-bot" in [a.id for a in screen.accounts], seconds=10)

        # a rule: the resource form is checked before anything is sent
        screen.query_one("#auth-rules", DataTable).focus()
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, RuleDialog))
        dialog = app.screen
        dialog.query_one("#rule-id", Input).value = "deny-config"
        dialog.query_one("#rule-resource", Input).value = "service:config"
        dialog.query_one("#rule-access", Select).value = "denied"
        dialog.query_one("#rule-priority", Input).value = "7"
        await pilot.press("enter")
        error = dialog.query_one("#rule-error", Static)
        await until(pilot, lambda: "type:name:endpoint" in str(error.render()))
        assert isinstance(app.screen, RuleDialog)
        dialog.query_one("#rule-resource", Input).value = "service:config:*"
        await pilot.press("enter")
        await until(pilot, lambda: "deny-config" in [r.id for r in screen.rules], seconds=10)
        rule = {r.id: r for r in await admin.rules(namespace="micro")}["deny-config"]
        assert (str(rule.resource), rule.access.value, rule.priority, rule.scope) == (
            "service:config:*", "denied", 7, "",
        )  # fmt: skip

        # deleting either asks first
        table = screen.query_one("#auth-rules", DataTable)
        table.move_cursor(row=[r.id for r in screen.rules].index("deny-config"))
        await pilot.press("delete")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await until(pilot, lambda: "deny-config" not in [r.id for r in screen.rules], seconds=10)
        assert "deny-config" not in {r.id for r in await admin.rules(namespace="micro")}
        table = screen.query_one("#auth-accounts", DataTable)
        table.focus()
        table.move_cursor(row=[a.id for a in screen.accounts].index("ci-bot"))
        await pilot.press("delete")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await until(pilot, lambda: "ci-bot" not in [a.id for a in screen.accounts], seconds=10)
        deleted = ["micro auth delete rule deny-config", "micro auth delete account ci-bot"]
        assert app.commands_run[-2:] == deleted
        assert "ci-bot" not in {a.id for a in await admin.accounts(namespace="micro")}


async def test_a_plain_user_sees_the_rules_and_the_servers_refusals(admin: Any) -> None:
    await admin.generate("bob", secret="bob-pw", namespace="micro")
    app = MicroApp(RealFacade())
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await until(pilot, lambda: login_ready(app), seconds=10)
        await pilot.press(*"bob", "enter", *"bob-pw", "enter")
        await until(pilot, lambda: not isinstance(app.screen, LoginDialog), seconds=10)
        screen = await _auth_area(app, pilot)
        assert "default" in [r.id for r in screen.rules]  # any account may list the rules
        assert "access denied to namespace" in _note(screen, "accounts")
        assert "only a micro admin manages namespaces" in _note(screen, "namespaces")
        assert not screen.query_one("#auth-accounts", DataTable).display
        # creating a rule: the server refuses, in its words
        screen.query_one("#auth-rules", DataTable).focus()
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, RuleDialog))
        app.screen.query_one("#rule-id", Input).value = "mine"
        app.screen.query_one("#rule-resource", Input).value = "service:store:*"
        await pilot.press("enter")
        await until(
            pilot,
            lambda: any("access denied to namespace" in str(n.message) for n in app._notifications),
            seconds=10,
        )
        assert app.commands_run == []
        assert "mine" not in {r.id for r in await admin.rules(namespace="micro")}
