"""A request form rendered from a :class:`~micro_tui.forms.FormModel`."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Select

from micro_tui.forms import FieldError, FormModel
from micro_tui.widgets.field_group import choose, message_body
from micro_tui.widgets.field_row import FieldRow, widget_id

__all__ = ["FormView"]


class FormView(VerticalScroll):
    """The root message's fields; nested groups rebuild themselves, the root rebuilds here."""

    def __init__(self, model: FormModel, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.model = model

    def compose(self) -> ComposeResult:
        yield from message_body(self.model.root)

    async def rebuild(self) -> None:
        await self.remove_children()
        await self.mount_all(message_body(self.model.root))

    @on(Select.Changed, ".oneof-row Select")
    async def _oneof(self, event: Select.Changed) -> None:
        from micro_tui.widgets.field_group import _owner

        if _owner(event.select) is not self:
            return
        event.stop()
        await choose(self.model.root, event, self.rebuild)

    def sync(self) -> None:
        """Bring the model up to date with every editor before reading it."""
        for row in self.query(FieldRow):
            row.sync()

    def show_errors(self, errors: list[FieldError]) -> None:
        """Mark each field's error and focus the first one's editor."""
        by_path = {e.path: e.message for e in errors}
        for row in self.query(FieldRow):
            row.show_error(by_path.get(row.node.path, ""))
        if errors:
            self.focus_path(errors[0].path)

    def focus_path(self, path: str) -> bool:
        found = self.query(f"#{widget_id(path)}")
        if not found:
            return False
        widget = found.first()
        widget.focus()
        self.scroll_to_widget(widget)
        return True
