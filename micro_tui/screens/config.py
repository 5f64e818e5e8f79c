"""Area 5: the namespace's config document as a tree of dotted paths, a JSON value editor
with the diff shown before saving, secrets masked until revealed, and the live watch."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Static, TextArea, Tree
from textual.widgets.tree import TreeNode

from micro_tui._markup import literal
from micro_tui.actions import Mutation, cli_line
from micro_tui.slices.config import (
    SECRET,
    ConfigChange,
    Op,
    at,
    compact,
    nodes,
    parse_json,
    plan_save,
    pretty,
    touches,
)
from micro_tui.widgets.micro_footer import MicroFooter
from micro_tui.widgets.micro_header import MicroHeader

if TYPE_CHECKING:
    from micro_tui.app import MicroApp
    from micro_tui.session import Session

__all__ = ["ConfigScreen"]

RETRY_SECONDS = (0.5, 1.0, 2.0, 4.0)
BATCH_SECONDS = 0.05
"""How long a watched change waits for the ones that follow it (one reload for a burst)."""
PREVIEW = 48
"""The most characters of a leaf's value the tree shows."""
MASK = "••••••"


def _preview(value: Any) -> str:
    text = value if isinstance(value, str) else compact(value)
    return text if len(text) <= PREVIEW else text[: PREVIEW - 1] + "…"


class ConfigScreen(Screen[None]):
    """Config: ``enter``/``e`` edits the highlighted path, ``ctrl+s`` shows the diff and saves,
    ``s`` reveals a secret, ``n`` adds a path, ``delete`` deletes one (confirmed).

    The watch keeps the tree current; a change to the path being edited never replaces the
    edit without asking (reload, or keep editing against the new value)."""

    BINDINGS = [
        Binding("e", "edit", "Edit", id="config.edit"),
        # not a key the editor (TextArea) consumes: it saves while typing
        Binding("ctrl+s", "save", "Save", id="config.save"),
        Binding("escape", "back", "Back", show=False, id="config.back"),
        Binding("s", "reveal", "Reveal/mask", id="config.reveal"),
        Binding("n", "new", "New path", id="config.new"),
        Binding("delete", "delete", "Delete", id="config.delete"),
        Binding("u", "discard", "Discard edit", show=False, id="config.discard"),
        Binding("r", "refresh", "Refresh", id="config.refresh"),
        Binding("c", "copy_cli", "Copy as CLI", id="config.copy_cli"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.document: dict[str, Any] | None = None
        """The document as last read (secrets masked); None until it is."""
        self.path: str | None = None
        """The path the editor holds."""
        self.original: Any = None
        """The value the edit started from (the server's, as shown: masked unless revealed)."""
        self.revealed = False
        """The editor holds the decrypted value of a secret."""
        self._pending: str | None = None  # a path to open once the document is read
        self._changed: set[str] = set()  # paths the watch reported while a dialog asks

    @property
    def micro(self) -> MicroApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield MicroHeader("config")
        with Horizontal(id="config-body"):
            tree: Tree[str] = Tree("config", id="config-tree", classes="pane")
            tree.show_root = False
            tree.border_title = "paths"
            yield tree
            with Vertical(id="config-value", classes="pane") as box:
                box.border_title = "value"
                yield Static("Loading…", id="config-path", markup=False)
                yield TextArea("", id="config-editor", read_only=True, soft_wrap=True)
        yield MicroFooter()

    def on_mount(self) -> None:
        self.watch(self.app, "session", self._session_changed, init=False)
        self.query_one(Tree).focus()
        self.reload()

    def _session_changed(self, old: Session, new: Session) -> None:
        if old.context != new.context:
            self.document, self.path, self.original = None, None, None
            self.reload()

    # --- reading and following -------------------------------------------------------------

    def reload(self) -> None:
        self._follow()

    @work(exclusive=True, group="config-follow")
    async def _follow(self) -> None:
        """Read the document, then follow the watch (read again after each burst of changes);
        start over with backoff when the server goes away."""
        await self.micro.painted.wait()
        config = self.micro.facade.config
        attempt = 0
        while True:
            try:
                await self._read()
                attempt = 0
                queue: asyncio.Queue[ConfigChange | None] = asyncio.Queue()
                pumping = asyncio.create_task(_pump(config.watch(), queue))
                try:
                    while True:
                        batch = [await queue.get()]
                        await asyncio.sleep(BATCH_SECONDS)
                        while not queue.empty():
                            batch.append(queue.get_nowait())
                        changes = [c for c in batch if c is not None]
                        if changes:
                            await self._read([c.path for c in changes])
                        if None in batch:
                            break
                finally:
                    pumping.cancel()
                    await asyncio.gather(pumping, return_exceptions=True)
            except Exception as exc:
                self._say(f"config: {getattr(exc, 'detail', '') or exc}", error=True)
                if self.document is None:
                    self.query_one(Tree).clear()
            await asyncio.sleep(RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)])
            attempt += 1

    async def _read(self, changed: list[str] | None = None) -> None:
        self.document = await self.micro.facade.config.document()
        self._rebuild()
        if self._pending is not None:
            path, self._pending = self._pending, None
            self.select(path)
        elif self.path is not None and (changed is None or any(touches(c, self.path) for c in changed)):
            self._server_changed(changed or [self.path])
        elif self.path is None:
            self._show_highlighted()

    def _rebuild(self) -> None:
        """The tree from :attr:`document`, keeping what was expanded and the cursor."""
        tree: Tree[str] = self.query_one(Tree)
        expanded = {n.data for n in _walk(tree.root) if n.is_expanded and n.data}
        cursor = tree.cursor_node.data if tree.cursor_node is not None else None
        tree.clear()
        made: dict[str, TreeNode[str]] = {"": tree.root}
        for node in nodes(self.document or {}):
            parent = made[node.path.rpartition(".")[0]]
            label = Text(node.key)
            if node.branch:
                made[node.path] = parent.add(label, data=node.path, expand=node.path in expanded)
            else:
                shown = MASK + " (secret)" if node.secret else _preview(node.value)
                parent.add_leaf(label + Text(" = ", style="dim") + Text(shown), data=node.path)
        if not self.document:
            ns = self.micro.session.namespace
            self._say(f"No config in namespace {ns} yet: n adds a path ({cli_line('config', 'set')} …).")
        if cursor is not None:
            self._move_to(cursor)

    def _move_to(self, path: str) -> bool:
        tree: Tree[str] = self.query_one(Tree)
        parts = path.split(".")
        for n in range(1, len(parts)):
            for node in _walk(tree.root):
                if node.data == ".".join(parts[:n]):
                    node.expand()
        for node in _walk(tree.root):
            if node.data == path:
                # the tree numbers its lines lazily (on idle): an expand just made leaves the
                # node's line stale until they are numbered again, which this asks for
                tree.get_node_at_line(0)
                tree.move_cursor(node)
                return True
        return False

    # --- the editor ------------------------------------------------------------------------

    @property
    def editor(self) -> TextArea:
        return self.query_one("#config-editor", TextArea)

    @property
    def dirty(self) -> bool:
        """The editor holds an edit not saved yet."""
        editor = self.editor
        return self.path is not None and not editor.read_only and editor.text != pretty(self.original)

    def _say(self, text: str, *, error: bool = False) -> None:
        line = self.query_one("#config-path", Static)
        line.update(Text(text))
        line.set_class(error, "-error")

    def _describe(self) -> None:
        if self.path is None:
            return
        value = self.original
        kind = "secret" if self.revealed or value == SECRET else type(value).__name__
        kind = {"dict": "object", "list": "array", "str": "string", "NoneType": "null"}.get(kind, kind)
        hint = ""
        if value == SECRET:
            hint = " · s reveals"
        elif self.revealed:
            hint = " · revealed (s masks)"
        mark = " · modified (ctrl+s saves, u discards)" if self.dirty else ""
        self._say(f"{self.path} · {kind}{hint}{mark}")
        self.query_one(MicroHeader).crumbs = f"config › {self.path}"

    def _load(self, path: str, value: Any, *, revealed: bool = False) -> None:
        """Put ``path``'s ``value`` in the editor (a masked secret read-only)."""
        self.path, self.original, self.revealed = path, value, revealed
        editor = self.editor
        editor.load_text(pretty(value))
        editor.read_only = value == SECRET
        self._describe()

    def _show_highlighted(self) -> None:
        node = self.query_one(Tree).cursor_node
        if node is None or node.data is None or self.document is None:
            return
        try:
            self._load(node.data, at(self.document, node.data))
        except KeyError:
            return

    @on(Tree.NodeHighlighted, "#config-tree")
    def _highlighted(self, event: Tree.NodeHighlighted[str]) -> None:
        if self.dirty:  # an edit in progress stays; the line says how to save or discard it
            self._describe()
            return
        self._show_highlighted()

    @on(Tree.NodeSelected, "#config-tree")
    def _selected(self, event: Tree.NodeSelected[str]) -> None:
        if not event.node.children:
            self.action_edit()

    @on(TextArea.Changed, "#config-editor")
    def _edited(self) -> None:
        self._describe()

    def select(self, path: str) -> None:
        """Highlight ``path`` and show its value (``:config path``)."""
        if self.document is None:
            self._pending = path
            return
        if self._move_to(path):
            self.query_one(Tree).focus()
            if not self.dirty:
                self._load(path, at(self.document, path))
        else:
            self.notify(literal(f"No config at {path} (n adds it)"), severity="warning")

    def open_with(self, args: tuple[str, ...]) -> None:
        if args:
            self.select(args[0])

    # --- changes from elsewhere -----------------------------------------------------------

    def _server_changed(self, changed: list[str]) -> None:
        """The watch changed the path in the editor: take it unless an edit is in progress;
        then ask (reload, or keep editing with the new value as the base)."""
        assert self.path is not None and self.document is not None
        try:
            now: Any = at(self.document, self.path)
        except KeyError:
            now = None
            if not self.dirty:  # deleted: show what the cursor is on now
                self.path, self.original = None, None
                self.editor.load_text("")
                self.editor.read_only = True
                self._show_highlighted()
                return
        if not self.dirty:
            if self.revealed and now == SECRET:
                self._reveal(self.path)
            else:
                self._load(self.path, now)
            return
        fresh = not self._changed
        self._changed.update(changed)
        if not fresh:
            return  # the dialog already up asks about this one too
        from micro_tui.dialogs.config_changed import ConfigChangedDialog

        path = self.path

        def answered(reload: bool | None) -> None:
            self._changed.clear()
            if self.path != path or self.document is None:
                return
            try:
                latest: Any = at(self.document, path)
            except KeyError:
                latest = None
            if reload:
                self._load(path, latest)
            else:  # the diff and the save start from what the server holds now
                self.original = latest
                self._describe()

        self.app.push_screen(ConfigChangedDialog(path, now), answered)

    # --- actions ---------------------------------------------------------------------------

    def action_edit(self) -> None:
        if self.path is None:
            self.notify("Select a path first", severity="warning")
            return
        if self.editor.read_only:
            self.notify("A secret is masked: s reveals it to edit it", severity="warning")
            return
        self.editor.focus()

    def action_back(self) -> None:
        if self.focused is self.editor:
            self.query_one(Tree).focus()
        else:
            raise SkipAction()

    def action_discard(self) -> None:
        if isinstance(self.focused, TextArea):
            raise SkipAction()
        if self.dirty and self.path is not None:
            self.notify(literal(f"Discarded the edit of {self.path}"))
            self._load(self.path, self.original, revealed=self.revealed)
        self._show_highlighted()

    def action_refresh(self) -> None:
        self.reload()

    def action_reveal(self) -> None:
        if isinstance(self.focused, TextArea):
            raise SkipAction()
        if self.path is None:
            return
        if self.revealed:
            if self.dirty:
                self.notify("Save or discard (u) the edit first", severity="warning")
                return
            self._load(self.path, SECRET)
        elif self.original == SECRET:
            self._reveal(self.path)
        else:
            self.notify("Not a secret", severity="warning")

    @work(group="config-reveal")
    async def _reveal(self, path: str) -> None:
        try:
            value = await self.micro.facade.config.get(path, secret=True)
        except Exception as exc:
            self.notify(literal(getattr(exc, "detail", "") or exc), title="reveal", severity="error")
            return
        if self.path == path:
            self._load(path, value, revealed=True)

    def action_save(self) -> None:
        if self.path is None or not self.dirty:
            self.notify("Nothing to save", severity="warning")
            return
        try:
            new = parse_json(self.editor.text)
        except ValueError as exc:
            self.notify(literal(exc), title="Not saved", severity="error")
            return
        path, old, secret = self.path, self.original, self.revealed
        ops = plan_save(path, old, new, secret=secret)
        if not ops:
            self._load(path, old, revealed=secret)
            return
        mutation = Mutation(f"set config {path}", " && ".join(op.cli for op in ops))

        def saved(_: Any) -> None:
            if self.path == path:
                self._load(path, SECRET if secret else new, revealed=False)
                if secret:
                    self._reveal(path)

        def go() -> None:
            self.micro.perform(mutation, lambda: self._run(ops), done=saved)

        if self.micro.session.refusal(mutation.summary):
            go()  # refused there, with the CLI's words
            return
        from micro_tui.dialogs.config_save import ConfigSaveDialog

        self.app.push_screen(
            ConfigSaveDialog(path, pretty(old), pretty(new), mutation), lambda ok: go() if ok else None
        )

    async def _run(self, ops: list[Op]) -> None:
        config = self.micro.facade.config
        for op in ops:
            if op.kind == "del":
                await config.delete(op.path)
            else:
                await config.set(op.path, op.value, secret=op.secret)

    def _tree_path(self) -> str | None:
        node = self.query_one(Tree).cursor_node
        return node.data if node is not None else None

    def action_delete(self) -> None:
        if isinstance(self.focused, TextArea):
            raise SkipAction()
        path = self._tree_path()
        if path is None:
            self.notify("Select a path first", severity="warning")
            return
        mutation = Mutation(f"delete config {path}", cli_line("config", "del", path), destructive=True)
        self.micro.perform(mutation, lambda: self.micro.facade.config.delete(path))

    def action_new(self) -> None:
        if isinstance(self.focused, TextArea):
            raise SkipAction()
        from micro_tui.dialogs.config_new import ConfigNewDialog

        node = self.query_one(Tree).cursor_node
        under = ""
        if node is not None and node.data:
            under = node.data if node.children else node.data.rpartition(".")[0]

        def chosen(made: tuple[str, Any, bool] | None) -> None:
            if made is None:
                return
            path, value, secret = made
            op = Op("set", path, value, secret)
            self._pending = path
            self.micro.perform(
                Mutation(f"set config {path}", op.cli),
                lambda: self.micro.facade.config.set(path, value, secret=secret),
            )

        self.app.push_screen(ConfigNewDialog(f"{under}." if under else ""), chosen)

    def action_copy_cli(self) -> None:
        if isinstance(self.focused, TextArea):
            raise SkipAction()
        path = self._tree_path()
        if path is None or self.document is None:
            return
        value = at(self.document, path)
        if value == SECRET or self.revealed:
            line = cli_line("config", "get", path, "--secret")
        else:
            line = cli_line("config", "set", path, compact(value))
        self.micro.copy_cli(line)


async def _pump(changes: AsyncIterator[ConfigChange], queue: asyncio.Queue[ConfigChange | None]) -> None:
    """The watch into ``queue``, then None when it ends (an error ends it too)."""
    try:
        async for change in changes:
            queue.put_nowait(change)
    finally:
        queue.put_nowait(None)


def _walk(node: TreeNode[str]) -> list[TreeNode[str]]:
    found: list[TreeNode[str]] = []
    for child in node.children:
        found.append(child)
        found += _walk(child)
    return found
