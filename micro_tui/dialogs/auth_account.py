"""A new account: id, type, name, scopes, and the service a service account is bound to."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from micro_tui.slices.auth import AccountSpec, scope_list

__all__ = ["AccountDialog"]


class AccountDialog(ModalScreen[AccountSpec | None]):
    """The server generates the secret; it is shown once, after the account is made."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel", id="auth_account.cancel"),
        Binding("enter", "create", "Create", priority=True, show=False, id="auth_account.create"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="account-dialog") as box:
            box.border_title = "create account"
            yield Input(placeholder="id", id="account-id")
            kinds = [("user", "user"), ("service", "service")]
            yield Select(kinds, value="user", allow_blank=False, id="account-type")
            yield Input(placeholder="name to log in with (optional)", id="account-name")
            yield Input(placeholder="scopes, comma-separated, e.g. admin (optional)", id="account-scopes")
            yield Input(placeholder="bound service (service accounts; optional)", id="account-service")
            yield Static("", id="account-error", markup=False)
            yield Button("Create", id="account-create", variant="primary")
            yield Label("enter creates · escape cancels · the secret is shown once", classes="hint")

    def _value(self, wid: str) -> str:
        return self.query_one(f"#{wid}", Input).value.strip()

    def _refuse(self, wid: str, message: str) -> None:
        self.query_one("#account-error", Static).update(message)
        self.query_one(f"#{wid}").focus()

    @on(Button.Pressed, "#account-create")
    def action_create(self) -> None:
        id, service = self._value("account-id"), self._value("account-service")
        kind = str(self.query_one("#account-type", Select).value)
        if not id:
            self._refuse("account-id", "an account needs an id")
            return
        if service and kind != "service":
            self._refuse("account-service", "only a service account is bound to a service")
            return
        scopes = scope_list(self._value("account-scopes"))
        self.dismiss(AccountSpec(id, kind, self._value("account-name"), scopes, service))
