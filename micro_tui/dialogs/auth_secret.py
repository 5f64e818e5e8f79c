"""A new account's secret, the one time it is shown: ``c`` copies it."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from micro_tui.slices.auth import AccountInfo

__all__ = ["SecretDialog"]


class SecretDialog(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "copy", "Copy the secret", id="auth_secret.copy"),
        Binding("enter,escape", "dismiss(None)", "Close", id="auth_secret.close"),
    ]

    def __init__(self, account: AccountInfo) -> None:
        super().__init__()
        self.account = account

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="secret-dialog") as box:
            box.border_title = "account created"
            yield Static(f"The secret of {self.account.id} ({self.account.type}):", markup=False)
            yield Static(self.account.secret, markup=False, id="account-secret", classes="cli-line")
            yield Label(
                "shown only this once (the server keeps a hash) · c copies · enter closes", classes="hint"
            )

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.account.secret)
        self.notify(f"the secret of {self.account.id}", title="Copied", markup=False)
