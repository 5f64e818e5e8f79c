"""Area 7: the accounts and rules of the namespace, and the server's namespaces (for a
``micro`` admin). The server decides who sees and does what; its refusals are shown in its
own words where the table would be."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Static

from micro_tui._markup import literal
from micro_tui.actions import Mutation, cli_line
from micro_tui.slices.auth import PUBLIC, AccountInfo, AccountSpec, RuleInfo, account_cli, rule_cli
from micro_tui.widgets.micro_footer import MicroFooter
from micro_tui.widgets.micro_header import MicroHeader

if TYPE_CHECKING:
    from micro_tui.app import MicroApp
    from micro_tui.session import Session

__all__ = ["AuthScreen"]

NONE = "n/a"  # an empty cell, as the CLI's listing shows it
_PANES = ("accounts", "rules", "namespaces")


def _refusal(exc: Exception) -> str:
    """What the server said (its detail), never a traceback."""
    return str(getattr(exc, "detail", "") or exc)


class AuthScreen(Screen[None]):
    """Auth: ``n`` creates in the focused table (account, rule, namespace), ``delete``
    deletes its row (confirmed), ``c`` copies the row as a CLI command, ``enter`` on a
    namespace switches to it."""

    BINDINGS = [
        Binding("n", "new", "New", id="auth.new"),
        Binding("delete", "delete", "Delete", id="auth.delete"),
        Binding("c", "copy_cli", "Copy as CLI", id="auth.copy_cli"),
        Binding("r", "refresh", "Refresh", id="auth.refresh"),
        Binding("j", "move('down')", "Down", show=False, id="auth.down"),
        Binding("k", "move('up')", "Up", show=False, id="auth.up"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.accounts: list[AccountInfo] = []
        self.rules: list[RuleInfo] = []
        self.namespaces: list[str] = []
        self.refused: dict[str, str] = {}
        """The server's refusal per pane (``accounts`` → "access denied to namespace")."""

    @property
    def micro(self) -> MicroApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield MicroHeader("auth")
        with Vertical(id="auth-body"):
            with Horizontal(id="auth-top"):
                yield from self._pane("accounts", ("ID", "Type", "Name", "Scopes", "Service"))
                yield from self._pane("namespaces", ("Namespace",))
            yield from self._pane("rules", ("ID", "Scope", "Access", "Resource", "Priority"))
        yield MicroFooter()

    def _pane(self, name: str, columns: tuple[str, ...]) -> ComposeResult:
        with Vertical(id=f"auth-{name}-pane", classes="pane auth-pane") as pane:
            pane.border_title = name
            table: DataTable[Any] = DataTable(id=f"auth-{name}", cursor_type="row", zebra_stripes=True)
            table.add_columns(*columns)
            yield table
            yield Static("Loading…", id=f"auth-{name}-note", classes="auth-note", markup=False)

    def on_mount(self) -> None:
        self.watch(self.app, "session", self._session_changed, init=False)
        self.query_one("#auth-accounts", DataTable).focus()
        self.reload()

    def _session_changed(self, old: Session, new: Session) -> None:
        if old.context != new.context:
            self.reload()

    def reload(self) -> None:
        self._load()

    @work(exclusive=True, group="auth-load")
    async def _load(self) -> None:
        await self.micro.painted.wait()
        auth = self.micro.facade.auth
        found = await asyncio.gather(auth.accounts(), auth.rules(), auth.namespaces(), return_exceptions=True)
        self.refused = {}
        for name, result in zip(_PANES, found, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, Exception):
                    raise result
                self.refused[name] = _refusal(result)
                result = []
            setattr(self, name, result)
        self._fill()

    def _fill(self) -> None:
        ns = self.micro.session.namespace
        rows: dict[str, list[tuple[Any, ...]]] = {
            "accounts": [
                (a.id, a.type, a.name or NONE, ", ".join(a.scopes) or NONE, a.service or NONE)
                for a in self.accounts
            ],
            "rules": [(r.id, r.scope or PUBLIC, r.access, r.resource, str(r.priority)) for r in self.rules],
            "namespaces": [(f"{n} (current)" if n == ns else n,) for n in self.namespaces],
        }
        for name in _PANES:
            table: DataTable[Any] = self.query_one(f"#auth-{name}", DataTable)
            row = table.cursor_row
            table.clear()
            for cells in rows[name]:
                table.add_row(*(Text(str(c)) for c in cells))
            if rows[name]:
                table.move_cursor(row=min(row, len(rows[name]) - 1))
            note = self.query_one(f"#auth-{name}-note", Static)
            refused = self.refused.get(name, "")
            if refused and name == "namespaces":
                refused = f"only a micro admin manages namespaces; the server says: {refused}"
            elif refused:
                refused = f"the server says: {refused}"
            elif not rows[name]:
                refused = f"no {name} in {ns}"
            note.update(refused)
            note.display = bool(refused)
            table.display = bool(rows[name])
            title = name if name == "namespaces" else f"{name} · {ns}"
            self.query_one(f"#auth-{name}-pane").border_title = literal(title)

    # --- which row ---------------------------------------------------------------------------

    def _pane_of_focus(self) -> str:
        focused = self.focused
        wid = focused.id if focused is not None and focused.id else ""
        return wid.removeprefix("auth-") if wid.removeprefix("auth-") in _PANES else "accounts"

    def _row(self, pane: str) -> int | None:
        table: DataTable[Any] = self.query_one(f"#auth-{pane}", DataTable)
        items = getattr(self, pane)
        if not table.display or not items or not 0 <= table.cursor_row < len(items):
            return None
        return table.cursor_row

    # --- actions -----------------------------------------------------------------------------

    def action_refresh(self) -> None:
        self.reload()

    def action_move(self, where: str) -> None:
        focused = self.focused
        if not isinstance(focused, DataTable):
            raise SkipAction()
        (focused.action_cursor_down if where == "down" else focused.action_cursor_up)()

    def _done(self, _: Any = None) -> None:
        self.reload()

    def action_new(self) -> None:
        pane = self._pane_of_focus()
        auth = self.micro.facade.auth
        if pane == "accounts":
            from micro_tui.dialogs.auth_account import AccountDialog

            def account(spec: AccountSpec | None) -> None:
                if spec is None:
                    return

                def made(created: AccountInfo) -> None:
                    from micro_tui.dialogs.auth_secret import SecretDialog

                    self.app.push_screen(SecretDialog(created))
                    self.reload()

                mutation = Mutation(f"create account {spec.id}", account_cli(spec))
                self.micro.perform(mutation, lambda: auth.create_account(spec), done=made)

            self.app.push_screen(AccountDialog(), account)
        elif pane == "rules":
            from micro_tui.dialogs.auth_rule import RuleDialog

            def rule(made: RuleInfo | None) -> None:
                if made is not None:
                    mutation = Mutation(f"create rule {made.id}", rule_cli(made))
                    self.micro.perform(mutation, lambda: auth.create_rule(made), done=self._done)

            self.app.push_screen(RuleDialog(), rule)
        else:
            from micro_tui.dialogs.auth_namespace import NamespaceDialog

            def namespace(name: str | None) -> None:
                if name:
                    mutation = Mutation(f"create namespace {name}", cli_line("namespace", "create", name))
                    self.micro.perform(mutation, lambda: auth.create_namespace(name), done=self._done)

            self.app.push_screen(NamespaceDialog(), namespace)

    def action_delete(self) -> None:
        pane = self._pane_of_focus()
        row = self._row(pane)
        if row is None:
            self.notify("Select a row first", severity="warning")
            return
        auth = self.micro.facade.auth
        if pane == "accounts":
            id = self.accounts[row].id
            line = cli_line("auth", "delete", "account", id)
            mutation = Mutation(f"delete account {id}", line, destructive=True)
            self.micro.perform(mutation, lambda: auth.delete_account(id), done=self._done)
        elif pane == "rules":
            id = self.rules[row].id
            mutation = Mutation(f"delete rule {id}", cli_line("auth", "delete", "rule", id), destructive=True)
            self.micro.perform(mutation, lambda: auth.delete_rule(id), done=self._done)
        else:
            name = self.namespaces[row]
            mutation = Mutation(
                f"delete namespace {name} with its store, config, events, accounts and rules",
                cli_line("namespace", "delete", name),
                destructive=True,
            )
            self.micro.perform(mutation, lambda: auth.delete_namespace(name), done=self._done)

    def action_copy_cli(self) -> None:
        pane = self._pane_of_focus()
        row = self._row(pane)
        if row is None:
            return
        if pane == "accounts":
            a = self.accounts[row]
            line = account_cli(AccountSpec(a.id, a.type, a.name, a.scopes, a.service))
        elif pane == "rules":
            line = rule_cli(self.rules[row])
        else:
            line = cli_line("namespace", "create", self.namespaces[row])
        self.micro.copy_cli(line)

    @on(DataTable.RowSelected, "#auth-namespaces")
    def _namespace_chosen(self, event: DataTable.RowSelected) -> None:
        row = self._row("namespaces")
        if row is not None and self.namespaces[row] != self.micro.session.namespace:
            self.micro.switch_namespace(self.namespaces[row])

    def open_with(self, args: tuple[str, ...]) -> None:
        """``:auth`` takes no words; here for the app's area commands."""
        if args:
            self.notify(literal(f"unexpected words: {' '.join(args)}"), severity="warning")
