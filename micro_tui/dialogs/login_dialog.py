"""Log in to the current environment + namespace (``:login``, or when the server wants one)."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

__all__ = ["LoginDialog"]


class LoginDialog(ModalScreen[str | None]):
    """Username and (masked) password; returns the account name once the server accepts
    them and the login is stored (keyring, like ``micro login``). A refusal shows the
    server's detail in the dialog and keeps it open."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel", id="login.cancel"),
        # priority: handled in order with the keys after it, so that "admin⏎micro⏎" typed
        # ahead (or from a password manager) puts the password in the password box
        Binding("enter", "next_field", "Next", show=False, priority=True, id="login.next"),
    ]

    def __init__(self, env: str, namespace: str, address: str) -> None:
        super().__init__()
        self.env, self.namespace, self.address = env, namespace, address

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="login") as box:
            box.border_title = "log in"
            where = Text.assemble("Log in to ", (self.env, "bold"), " · namespace ")
            where.append_text(Text.assemble((self.namespace, "bold"), (f"  {self.address}", "dim")))
            yield Label(where)
            if self.env == "local":
                # the bundled server: a newcomer has no account yet but the one it made
                yield Static(
                    Text.assemble(
                        "New local server? Log in as ",
                        ("admin", "bold"),
                        " / ",
                        ("micro", "bold"),
                        ", then change the password: ",
                        ("micro user set password", "bold"),
                    ),
                    id="login-first-run",
                )
            yield Input(placeholder="username", id="login-username")
            yield Input(placeholder="password", password=True, id="login-password")
            yield Static("", id="login-error")
            yield Button("Log in", id="login-submit", variant="primary", compact=True)
            yield Label("enter logs in · escape cancels · the CLI: micro login", classes="hint")

    def on_mount(self) -> None:
        # now (not after a refresh, like focus()): a username typed as the dialog appears
        self.set_focus(self.query_one("#login-username", Input))

    def action_next_field(self) -> None:
        """``enter`` in the username: on to the password now (not after a refresh, like
        ``focus()``: the next key may already be on its way). Elsewhere ``enter`` is the
        focused widget's (the password box submits in order after its own keys)."""
        if self.focused is not self.query_one("#login-username", Input):
            raise SkipAction()
        self.set_focus(self.query_one("#login-password", Input))

    @on(Input.Submitted, "#login-password")
    @on(Button.Pressed, "#login-submit")
    def _submit(self) -> None:
        username = self.query_one("#login-username", Input).value.strip()
        password = self.query_one("#login-password", Input).value
        if not username:
            self._error("Enter a username")
            self.query_one("#login-username", Input).focus()
            return
        self.query_one("#login-submit", Button).disabled = True
        self.query_one("#login-error", Static).update(Text("logging in…", style="dim"))
        self._login(username, password)

    @work(exclusive=True, group="login")
    async def _login(self, username: str, password: str) -> None:
        try:
            account = await self.app.facade.session.login(username, password)  # type: ignore[attr-defined]
        except Exception as exc:
            detail = getattr(exc, "detail", "") or str(exc) or type(exc).__name__
            self._error(detail[:1].upper() + detail[1:])
            password_box = self.query_one("#login-password", Input)
            password_box.value = ""
            password_box.focus()
            return
        finally:
            self.query_one("#login-submit", Button).disabled = False
        if (username, password) == ("admin", "micro"):  # it worked, so it still is the default
            self.app.notify(
                "The admin password is still the default: change it with micro user set password",
                severity="warning",
                timeout=15,
            )
        self.dismiss(str(account))

    def _error(self, detail: str) -> None:
        self.query_one("#login-error", Static).update(Text(detail, style="bold"))
        self.query_one("#login-error", Static).add_class("-error")
