"""Area 4: the store — databases and tables, keys a page at a time, one record's value.

Keys are paged by key, never by offset and never all at once: the next page is the keys
after the last one shown, the previous page the keys before the first one (descending),
``G`` the last page (the first in descending order). A table of a million keys opens as
fast as one of a thousand, and a page deep inside it costs what the first page costs.

Every write and delete goes through :meth:`MicroApp.perform
<micro_tui.app.MicroApp.perform>` with its ``micro store …`` line; an edit names the
version it was read at, and a newer version met on the way is shown (409) with its value,
never overwritten silently.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from textual import on, work
from textual.actions import SkipAction
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Input, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from micro import errors
from micro_tui._markup import literal
from micro_tui.actions import Mutation
from micro_tui.slices.store import PAGE, Order, StoreRecord, VersionConflict
from micro_tui.slices.store_cli import delete_line, read_line, write_line
from micro_tui.widgets.filter_input import FilterInput
from micro_tui.widgets.micro_footer import MicroFooter
from micro_tui.widgets.micro_header import MicroHeader
from micro_tui.widgets.store_keys import KeyTable
from micro_tui.widgets.store_value import StoreValue

if TYPE_CHECKING:
    from micro_tui.app import MicroApp
    from micro_tui.dialogs.store_write import NewRecord
    from micro_tui.session import Session

__all__ = ["DEFAULT_TABLE", "StoreScreen", "selection"]

DEFAULT_TABLE = "micro"

_SELECTIONS: WeakKeyDictionary[App[Any], tuple[str, str]] = WeakKeyDictionary()


def _ids(options: OptionList) -> list[str]:
    return [options.get_option_at_index(i).id or "" for i in range(options.option_count)]


def selection(app: App[Any]) -> tuple[str, str]:
    """The database ("" for the namespace's) and table the store area shows in ``app``
    (the palette lists keys from there); ``micro`` before the area opens."""
    return _SELECTIONS.get(app, ("", DEFAULT_TABLE))


class StoreScreen(Screen[None]):
    """Store: ``/`` filters by prefix (tab: suffix), ``g``/``G`` first/last page, ``[``/``]``
    previous/next page (or move past either end), ``enter`` into the value (``escape`` back),
    ``v`` pretty/raw/hex, ``n`` new key, ``e`` edit in the pane (``ctrl+s`` saves, ``escape``
    cancels), ``E`` edit in ``$EDITOR``, ``delete`` deletes (confirmed), ``c`` copies the
    key's ``micro store read``."""

    BINDINGS = [
        # priority, like the services filter: "/abc" typed in a burst lands in the filter
        Binding("slash", "filter", "Filter", priority=True, id="store.filter"),
        Binding("escape", "back", "Back", show=False, id="store.back"),
        Binding("g", "page('first')", "First page", show=False, id="store.first"),
        Binding("G", "page('last')", "Last page", show=False, id="store.last"),
        Binding("right_square_bracket", "page('next')", "Next page", show=False, id="store.next"),
        Binding("left_square_bracket", "page('prev')", "Previous page", show=False, id="store.prev"),
        Binding("v", "view", "Pretty/raw/hex", id="store.view"),
        Binding("n", "new", "New key", id="store.new"),
        Binding("e", "edit", "Edit", id="store.edit"),
        Binding("E", "edit_external", "$EDITOR", show=False, id="store.editor"),
        # priority: it must work while typing in the value (TextArea leaves ctrl+s alone)
        Binding("ctrl+s", "save", "Save", priority=True, show=False, id="store.save"),
        Binding("delete", "delete", "Delete", id="store.delete"),
        Binding("c", "copy_cli", "Copy as CLI", id="store.copy_cli"),
        Binding("r", "refresh", "Refresh", id="store.refresh"),
    ]

    def __init__(self) -> None:
        super().__init__(name="store")
        self.database = ""
        """The database shown ("": the namespace's)."""
        self.table = DEFAULT_TABLE
        self.prefix = ""
        self.suffix = ""
        self.before: int | None = 0
        """Keys before the first one shown (None: not known, the page was reached from the end)."""
        self.after: int | None = 0
        """Keys after the last one shown (None: not known)."""
        self._table_chosen = False  # by open_with or the user: the first load keeps it
        self._edit_scope = ("", DEFAULT_TABLE)  # the database and table of the value being edited

    @property
    def micro(self) -> MicroApp:
        return self.app  # type: ignore[return-value]

    @property
    def database_name(self) -> str:
        return self.database or self.micro.session.namespace

    def _cli_database(self, database: str | None = None) -> str:
        """``--database`` of the CLI lines for ``database`` (default: the one shown); only
        when it is not the namespace's, the CLI's default."""
        namespace = self.micro.session.namespace
        name = (self.database if database is None else database) or namespace
        return "" if name == namespace else name

    def compose(self) -> ComposeResult:
        yield MicroHeader("store")
        with Horizontal(id="store-body"):
            with Vertical(id="store-picker"):
                databases = OptionList(id="store-databases", classes="pane")
                databases.border_title = "databases"
                yield databases
                tables = OptionList(id="store-tables", classes="pane")
                tables.border_title = "tables"
                yield tables
            with Vertical(id="store-keys-pane", classes="pane"):
                with Horizontal(id="store-filters"):
                    yield FilterInput(placeholder="/ prefix", id="store-prefix", back_to="#store-keys")
                    yield FilterInput(placeholder="suffix", id="store-suffix", back_to="#store-keys")
                yield KeyTable(id="store-keys")
                yield Static("", id="store-page", markup=False)
            yield StoreValue(id="store-value-pane", classes="pane")
        yield MicroFooter()

    def on_mount(self) -> None:
        self.watch(self.app, "session", self._session_changed, init=False)
        self._remember()
        self.query_one(KeyTable).focus()
        self.reload()

    def _session_changed(self, old: Session, new: Session) -> None:
        if old.context != new.context:  # another env, namespace or login: its own tables
            self.database, self.table, self._table_chosen = "", DEFAULT_TABLE, False
            self.reload()
        elif new.connected and not old.connected and not self.query_one(KeyTable).keys:
            self.reload()  # the server is back: what could not be listed, again

    def _remember(self) -> None:
        _SELECTIONS[self.app] = (self.database, self.table)
        tables = self.query_one("#store-tables", OptionList)
        for index in range(tables.option_count):
            if tables.get_option_at_index(index).id == self.table:
                tables.highlighted = index
        self.query_one("#store-keys-pane").border_title = Content(f"keys · {self.table}")
        self.query_one(MicroHeader).crumbs = f"store › {self.database_name} › {self.table}"

    # --- loading -------------------------------------------------------------------------

    def reload(self) -> None:
        """The databases and tables again, then the first page of keys."""
        self._load_picker()

    @work(exclusive=True, group="store-picker")
    async def _load_picker(self) -> None:
        store = self.micro.facade.store
        await self.micro.painted.wait()
        try:
            databases = await store.databases()
            tables = await store.tables(self.database)
        except Exception as exc:
            self._failed(exc)
            return
        database = self.database_name
        if database not in databases:
            databases = sorted({*databases, database})
        if not self._table_chosen and self.table not in tables and tables:
            self.table = tables[0]
        self._table_chosen = True
        if self.table not in tables:
            tables = sorted({*tables, self.table})
        self._fill(self.query_one("#store-databases", OptionList), databases, database)
        self._fill(self.query_one("#store-tables", OptionList), tables, self.table)
        self._remember()
        self._page("first")

    @staticmethod
    def _fill(options: OptionList, names: list[str], chosen: str) -> None:
        options.clear_options()
        options.add_options(Option(Content(name), id=name) for name in names)
        if chosen in names:
            options.highlighted = names.index(chosen)

    def _failed(self, exc: Exception) -> None:
        session = self.micro.facade.session
        if isinstance(exc, errors.Unauthorized) or session.login_required:
            message = "Not logged in: log in with :login (or ctrl+p › log in)."
            self.micro.offer_login()  # once per env + namespace, as the services area does
        elif isinstance(exc, errors.Forbidden):
            message = f"Not allowed: {exc}"
        else:
            message = f"{getattr(exc, 'detail', '') or exc}"
        self.query_one("#store-page", Static).update(message)
        self.query_one(StoreValue).show(None, message)

    def _status(self) -> None:
        table = self.query_one(KeyTable)
        shown = len(table.keys)
        words = []
        if self.prefix:
            words.append(f"prefix {self.prefix!r}")
        if self.suffix:
            words.append(f"suffix {self.suffix!r}")
        if not shown:
            words.append("no keys" + (" match" if self.prefix or self.suffix else ""))
        elif self.before is not None:
            last = f"–{self.before + shown:,}" if shown > 1 else ""
            words.append(f"key{'s' if last else ''} {self.before + 1:,}{last}")
        elif self.after == 0:
            words.append(f"last {shown:,} keys")
        elif self.after is not None:
            words.append(f"{self.after + 1:,}–{self.after + shown:,} from the end")
        else:
            words.append(f"{shown:,} keys")
        if shown:
            up = "↑ " if self.before != 0 else ""
            down = "↓" if self.after != 0 else "end"
            words.append(f"{up}{down}".strip())
        self.query_one("#store-page", Static).update(" · ".join(words))

    def _scope(self) -> dict[str, Any]:
        return {"database": self.database, "table": self.table, "prefix": self.prefix, "suffix": self.suffix}

    @work(exclusive=True, group="store-keys")
    async def _page(self, where: str, key: str = "", cursor: int = 0) -> None:
        """Show a page: ``first``, ``last``, ``next`` (after the last key shown), ``prev``
        (before the first one), ``at`` (around ``key``, the cursor on it) or ``from`` (from
        ``key`` on, the cursor on row ``cursor``)."""
        store = self.micro.facade.store
        table = self.query_one(KeyTable)
        shown = table.keys
        before, after = self.before, self.after
        try:
            if where == "next":
                if not shown or after == 0:
                    return
                page = await store.list_keys(**self._scope(), start_after=shown[-1])
                if not page.keys:
                    self.after = 0
                    self._status()
                    return
                keys = page.keys
                self.before = None if before is None else before + len(shown)
                self.after = 0 if not page.more else (None if after is None else after - len(keys))
                cursor = 0
            elif where == "prev":
                if not shown or before == 0:
                    return
                page = await store.list_keys(**self._scope(), start_after=shown[0], order=Order.DESC)
                if not page.more and len(page.keys) < PAGE:
                    # the start is near: a whole first page instead of a short one, the
                    # cursor on the key before the page that was shown
                    page = await store.list_keys(**self._scope())
                    keys, self.before = page.keys, 0
                    self.after = 0 if not page.more else None
                    cursor = keys.index(shown[0]) - 1 if shown[0] in keys else len(keys) - 1
                else:
                    keys = tuple(reversed(page.keys))
                    self.after = None if after is None else after + len(shown)
                    self.before = (0 if not page.more else None) if before is None else before - len(keys)
                    cursor = -1
            elif where == "last":
                page = await store.list_keys(**self._scope(), order=Order.DESC)
                keys = tuple(reversed(page.keys))
                self.after, self.before = 0, (None if page.more else 0)
                cursor = -1
            elif where in ("at", "from"):
                # "at": the key with up to half a page before it; "from": the page starting
                # at the key. Either way by key: the ones before it, descending, then after.
                back = PAGE // 2 if where == "at" else 0
                earlier = await store.list_keys(
                    **self._scope(), start_after=key, order=Order.DESC, limit=back + 1
                )
                start = earlier.keys[back] if len(earlier.keys) > back else ""
                page = await store.list_keys(**self._scope(), start_after=start)
                if not page.keys and start:  # nothing from there on: the last page
                    self._page("last")
                    return
                keys = page.keys
                # "from" (after a delete) starts where the page did: as many keys before it
                self.before = before if where == "from" and start else (None if start else 0)
                self.after = 0 if not page.more else None
                if where == "at":
                    cursor = keys.index(key) if key in keys else min(len(earlier.keys), len(keys) - 1)
            else:  # first
                page = await store.list_keys(**self._scope())
                keys = page.keys
                self.before, self.after = 0, (None if page.more else 0)
                cursor = 0
        except Exception as exc:
            self._failed(exc)
            return
        table.set_keys(keys, cursor=cursor)
        self._status()
        if not keys:
            self.query_one(StoreValue).show(None, "No keys here. n writes one.")

    @on(KeyTable.EdgeReached)
    def _edge(self, event: KeyTable.EdgeReached) -> None:
        self._page(event.direction)

    @on(DataTable.RowHighlighted, "#store-keys")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = self.query_one(KeyTable).selected_key
        if key is not None and not self.query_one(StoreValue).editing:
            self._read(key)

    @on(DataTable.RowSelected, "#store-keys")
    def _selected_row(self, event: DataTable.RowSelected) -> None:
        """``enter`` on a key: into its value (to scroll a long one); ``escape`` comes back."""
        if self.query_one(StoreValue).record is not None:
            self.query_one(StoreValue).editor.focus()

    @work(exclusive=True, group="store-read")
    async def _read(self, key: str) -> None:
        pane = self.query_one(StoreValue)
        try:
            record = await self.micro.facade.store.read(key, database=self.database, table=self.table)
        except errors.NotFound:
            pane.show(None, f"{key}: gone (deleted or expired); r refreshes")
            return
        except Exception as exc:
            pane.show(None, f"{key}: {getattr(exc, 'detail', '') or exc}")
            return
        if not pane.editing and self.query_one(KeyTable).selected_key == key:
            pane.show(record)

    # --- picker and filters --------------------------------------------------------------

    @on(OptionList.OptionSelected, "#store-databases")
    def _database_chosen(self, event: OptionList.OptionSelected) -> None:
        name = event.option.id or ""
        self.database = "" if name == self.micro.session.namespace else name
        self.table, self._table_chosen = DEFAULT_TABLE, False
        self._remember()
        self.query_one("#store-tables", OptionList).focus()
        self.reload()

    @on(OptionList.OptionSelected, "#store-tables")
    def _table_selected(self, event: OptionList.OptionSelected) -> None:
        self.choose_table(event.option.id or DEFAULT_TABLE)
        self.query_one(KeyTable).focus()

    def choose_table(self, table: str) -> None:
        self.table = table
        self._table_chosen = True
        self._remember()
        self._page("first")

    @on(Input.Changed, "#store-prefix")
    def _prefix_changed(self, event: Input.Changed) -> None:
        self.prefix = event.value
        self._page("first")

    @on(Input.Changed, "#store-suffix")
    def _suffix_changed(self, event: Input.Changed) -> None:
        self.suffix = event.value
        self._page("first")

    def open_with(self, args: tuple[str, ...]) -> None:
        """``:store [table] [prefix]``: that table of the current database, from that prefix."""
        if args:
            self.table = args[0]
            self._table_chosen = True
            tables = self.query_one("#store-tables", OptionList)
            if args[0] not in _ids(tables):
                tables.add_option(Option(Content(args[0]), id=args[0]))
        prefix = args[1] if len(args) > 1 else ""
        self.prefix = prefix
        self.query_one("#store-prefix", Input).value = prefix
        self._remember()
        self.query_one(KeyTable).focus()
        self._page("first")

    # --- actions -------------------------------------------------------------------------

    def action_filter(self) -> None:
        if isinstance(self.focused, (Input, TextArea)):
            raise SkipAction()  # "/" is text there
        self.set_focus(self.query_one("#store-prefix", Input))

    def action_back(self) -> None:
        pane = self.query_one(StoreValue)
        if pane.editing:
            pane.cancel_edit()
            self.query_one(KeyTable).focus()
        elif isinstance(self.focused, (Input, TextArea)):  # a filter, or reading the value
            self.query_one(KeyTable).focus()
        elif self.prefix or self.suffix:
            self.query_one("#store-prefix", Input).value = ""
            self.query_one("#store-suffix", Input).value = ""
        else:
            self.query_one(KeyTable).focus()

    def action_page(self, where: str) -> None:
        self.query_one(KeyTable).focus()
        self._page(where)

    def action_view(self) -> None:
        mode = self.query_one(StoreValue).cycle_mode()
        self.notify(f"values shown {mode}", timeout=2)

    def action_refresh(self) -> None:
        self.reload()

    def _selected(self) -> str | None:
        key = self.query_one(KeyTable).selected_key
        if key is None:
            self.notify("Select a key first", severity="warning")
        return key

    def action_copy_cli(self) -> None:
        key = self._selected()
        if key is not None:
            self.micro.copy_cli(read_line(key, database=self._cli_database(), table=self.table))

    def action_delete(self) -> None:
        key = self._selected()
        if key is None:
            return
        database, table = self.database, self.table
        keys = self.query_one(KeyTable)
        first, row = keys.keys[0], keys.cursor_row

        async def do() -> None:
            await self.micro.facade.store.delete(key, database=database, table=table)

        def done(_: object) -> None:
            self._page("from", first, row)

        self.micro.perform(
            Mutation(
                f"delete key {key!r} from table {table}",
                delete_line(key, database=self._cli_database(), table=table),
                destructive=True,
            ),
            do,
            done=done,
        )

    def action_new(self) -> None:
        from micro_tui.dialogs.store_write import StoreWriteDialog

        if not self.micro.require_writable(f"write a key in table {self.table}"):
            return
        self.app.push_screen(StoreWriteDialog(self.table), self._write_new)

    def _write_new(self, new: NewRecord | None) -> None:
        if new is None:
            return
        database, table = self.database, self.table

        async def do() -> int:
            value = new.value.encode()
            return await self.micro.facade.store.write(
                new.key, value, database=database, table=table, ttl=new.ttl, version=0
            )

        def failed(exc: Exception) -> None:
            if isinstance(exc, VersionConflict):
                self.notify(
                    literal(f"{new.key} already exists: edit it with e"),
                    title="409 Conflict",
                    severity="error",
                )
                self._page("at", new.key)
            else:
                self._error(f"write {new.key}", exc)

        self.micro.perform(
            Mutation(
                f"write new key {new.key!r} in table {table}",
                write_line(
                    new.key, new.value, database=self._cli_database(), table=table, ttl=new.ttl, version=0
                ),
            ),
            do,
            done=lambda _: self._at(new.key),
            failed=failed,
        )

    def _at(self, key: str) -> None:
        self._page("at", key)

    def _error(self, what: str, exc: Exception) -> None:
        detail = str(getattr(exc, "detail", "") or exc)
        code = getattr(exc, "code", "")
        title = f"{what} failed" + (f" ({code})" if code else "")
        self.notify(detail, title=title, severity="error", markup=False)

    def action_edit(self) -> None:
        pane = self.query_one(StoreValue)
        if pane.editing:
            raise SkipAction()
        if not self.micro.require_writable("edit a key"):
            return
        self._edit_scope = (self.database, self.table)  # saved there, wherever the list goes meanwhile
        problem = pane.begin_edit()
        if problem:
            self.notify(problem, severity="warning", markup=False)

    def action_save(self) -> None:
        pane = self.query_one(StoreValue)
        if not pane.editing or pane.record is None:
            raise SkipAction()
        text = pane.editor.text
        if text == pane.edit_base:
            self.notify("Nothing changed", timeout=2)
            pane.cancel_edit()
            self.query_one(KeyTable).focus()
            return
        self._write_edit(pane.record, text, pane.record.version, self._edit_scope)

    def action_edit_external(self) -> None:
        """The value in ``$VISUAL``/``$EDITOR`` (the workspace suspended), written back at
        the version it was read at when it changed."""
        from textual.app import SuspendNotSupported

        from micro_tui.widgets.store_value import render_value

        pane = self.query_one(StoreValue)
        record = pane.record
        if record is None:
            self.notify("Select a key first", severity="warning")
            return
        if not self.micro.require_writable("edit a key"):
            return
        command = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        try:
            start = record.value.decode("utf-8")
        except UnicodeDecodeError:
            self.notify("a binary value cannot be edited as text", severity="warning")
            return
        if pane.mode == "pretty":
            start, _ = render_value(record.value, "pretty")
        with tempfile.NamedTemporaryFile("w", suffix=".txt", prefix="micro-store-", delete=False) as f:
            f.write(start)
        path = Path(f.name)
        try:
            with self.app.suspend():
                subprocess.run([*shlex.split(command), str(path)], check=False)
            text = path.read_text()
        except SuspendNotSupported:
            self.notify("cannot suspend the workspace here to run the editor", severity="warning")
            return
        except OSError as exc:
            detail = f"{command}: {exc.strerror or exc}"
            self.notify(detail, title="No editor", severity="error", markup=False)
            return
        finally:
            path.unlink(missing_ok=True)
        if text.rstrip("\n") == start.rstrip("\n"):
            self.notify("Nothing changed", timeout=2)
            return
        if not start.endswith("\n") and text.endswith("\n") and not text.endswith("\n\n"):
            text = text[:-1]  # editors add a final newline the value did not have
        self._write_edit(record, text, record.version, (self.database, self.table))

    def _write_edit(self, record: StoreRecord, text: str, version: int, scope: tuple[str, str]) -> None:
        """Write ``text`` over ``record`` (of ``scope``: database, table) if it is still at
        ``version``; its TTL is kept."""
        (database, table), key = scope, record.key
        pane = self.query_one(StoreValue)

        async def do() -> int:
            return await self.micro.facade.store.write(
                key, text.encode(), database=database, table=table, ttl=record.ttl, version=version
            )

        def done(new_version: Any) -> None:
            pane.show(StoreRecord(key, text.encode(), record.ttl, int(new_version), record.metadata))
            self.query_one(KeyTable).focus()
            self._read(key)

        def failed(exc: Exception) -> None:
            if isinstance(exc, VersionConflict):
                self._conflict(record, text, exc, scope)
            else:
                self._error(f"write {key}", exc)

        self.micro.perform(
            Mutation(
                f"write key {key!r} in table {table} at version {version}",
                write_line(
                    key,
                    text,
                    database=self._cli_database(database),
                    table=table,
                    ttl=record.ttl,
                    version=version,
                ),
            ),
            do,
            done=done,
            failed=failed,
        )

    def _conflict(self, record: StoreRecord, text: str, exc: VersionConflict, scope: tuple[str, str]) -> None:
        from micro_tui.dialogs.store_conflict import StoreConflictDialog

        pane = self.query_one(StoreValue)

        def chosen(choice: str | None) -> None:
            if choice == "theirs":
                pane.show(exc.current, f"{record.key}: deleted meanwhile")
                # after the focus the screen gets back from the dialog (the editor's)
                self.call_after_refresh(self.query_one(KeyTable).focus)
            elif choice == "overwrite":
                at = exc.current.version if exc.current is not None else 0
                self._write_edit(record, text, at, scope)
            elif pane.editing:
                pane.editor.focus()

        self.app.push_screen(StoreConflictDialog(record.key, exc.detail, exc.current, record.version), chosen)
