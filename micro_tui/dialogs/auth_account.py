"""A new account: id, type, name, scopes, and the service a service account is bound to."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, Static

from micro_tui.slices.auth import AccountSpec, scope_list

__all__ = ["AccountDialog"]


def _row(label: str, field: Widget) -> Horizontal:
    """A field with its name beside it (a placeholder goes once the field has text)."""
    return Horizontal(Label(label, classes="form-label"), field, classes="form-row")


class AccountDialog(ModalScreen[AccountSpec | None]):
    """The server generates the secret; it is shown once, after the account is made."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel", id="auth_account.cancel"),
        Binding("enter", "create", "Create", priority=True, show=False, id="auth_account.create"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="account-dialog") as box:
            box.border_title = "create account"
            yield _row("id", Input(placeholder="e.g. ci-bot", id="account-id", compact=True))
            kinds = [("user", "user"), ("service", "service")]
            yield _row(
                "type", Select(kinds, value="user", allow_blank=False, id="account-type", compact=True)
            )
            yield _row(
                "name", Input(placeholder="to log in with (optional)", id="account-name", compact=True)
            )
            scopes = Input(
                placeholder="comma-separated, e.g. admin (optional)", id="account-scopes", compact=True
            )
            yield _row("scopes", scopes)
            service = Input(
                placeholder="service accounts: the one it registers", id="account-service", compact=True
            )
            yield _row("service", service)
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
