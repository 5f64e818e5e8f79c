"""One scalar field of a request form: label, presence toggle, editor, error line."""

from __future__ import annotations

import re
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Label, Select, Static

from micro_tui.forms import FieldKind, ScalarNode

__all__ = ["FieldRow", "widget_id"]

_HINTS = {
    FieldKind.STRING: "text",
    FieldKind.INT32: "integer",
    FieldKind.UINT32: "integer ≥ 0",
    FieldKind.INT64: "digits (64-bit)",
    FieldKind.UINT64: "digits (64-bit, ≥ 0)",
    FieldKind.FLOAT: "number, NaN, Infinity",
    FieldKind.DOUBLE: "number, NaN, Infinity",
    FieldKind.BYTES: "base64",
    FieldKind.TIMESTAMP: "RFC 3339 (2024-05-01T12:00:00Z) or now",
    FieldKind.DURATION: "number + unit: 1.5s, 250ms, 2m",
    FieldKind.FIELD_MASK: "paths: a.b,c",
    FieldKind.JSON: "JSON",
}


def widget_id(path: str) -> str:
    """A widget id for a field path (ids allow only letters, digits, - and _)."""
    return "f-" + re.sub(r"[^A-Za-z0-9_-]", "_", path or "root")


def type_label(node: Any) -> str:
    """The field's type as the .proto spells it (``sint32``, ``Color``); ``int64?`` for a
    wrapper (a nullable scalar)."""
    spec = node.spec
    if spec.wrapper:
        return f"{spec.kind.value}?"
    return str(spec.type_name)


class FieldRow(Vertical):
    """Edits one :class:`~micro_tui.forms.ScalarNode`; every change goes straight to the node.

    One line per field (compact editors), so that a form of a dozen fields fits at 80×24;
    the error line under it shows only when there is an error.
    """

    DEFAULT_CSS = "FieldRow { height: auto; } FieldRow > Horizontal { height: auto; }"

    def __init__(self, node: ScalarNode, label: str | None = None) -> None:
        super().__init__()
        self.node = node
        self.label = label if label is not None else node.spec.name

    @property
    def help(self) -> str:
        """The field's comment in the .proto ("" when the schema carries none)."""
        from micro_tui.widgets.form_view import FormView

        spec = self.node.spec
        if spec.descriptor is None or self.node.item:
            return ""
        form = next((a for a in self.ancestors if isinstance(a, FormView)), None)
        return form.model.comments.get(spec.descriptor.full_name, "") if form is not None else ""

    def compose(self) -> ComposeResult:
        node = self.node
        with Horizontal():
            title = Text(self.label)
            title.append(f" {type_label(node)}", style="dim")
            label = Label(title, classes="field-label")
            label.tooltip = self.help or None
            yield label
            if node.spec.presence and not node.item:
                yield Checkbox("set", node.present, id=widget_id(node.path) + "-set", compact=True)
            yield self._editor()
        yield Static("", classes="field-error")

    def _editor(self) -> Widget:
        node, wid = self.node, widget_id(self.node.path)
        if node.spec.kind is FieldKind.BOOL:
            return Checkbox("", node.text == "true", id=wid, compact=True)
        if node.spec.kind is FieldKind.ENUM:
            options = [(name, name) for name in node.spec.enum_names]
            value: Any = node.text if node.text in node.spec.enum_names else Select.NULL
            return Select(
                options, value=value, allow_blank=not node.item, id=wid, prompt="(default)", compact=True
            )
        hint = _HINTS.get(node.spec.kind, "")
        placeholder = f"{self.help} ({hint})" if self.help and hint else self.help or hint
        return Input(node.text, placeholder=placeholder, id=wid, compact=True, tooltip=self.help or None)

    def sync(self) -> None:
        """Copy the editor's current value to the node (changes may still be queued)."""
        editor = self.query_one(f"#{widget_id(self.node.path)}")
        if isinstance(editor, Input):
            text = editor.value
        elif isinstance(editor, Checkbox):
            text = "true" if editor.value else "false"
        elif isinstance(editor, Select):
            text = "" if editor.value in (Select.NULL, Select.BLANK) else str(editor.value)
        else:
            return
        if text != self.node.text:
            self.node.set(text)

    def show_error(self, message: str) -> None:
        self.query_one(".field-error", Static).update(Text(message))  # it may quote the input
        self.set_class(bool(message), "-error")

    def _sync_presence(self) -> None:
        for box in self.query(f"#{widget_id(self.node.path)}-set").results(Checkbox):
            with box.prevent(Checkbox.Changed):
                box.value = self.node.present

    @on(Input.Changed)
    def _input(self, event: Input.Changed) -> None:
        event.stop()
        self.node.set(event.value)
        self._sync_presence()
        self.show_error("")

    @on(Select.Changed)
    def _select(self, event: Select.Changed) -> None:
        event.stop()
        value = event.value
        if value is Select.NULL or value is Select.BLANK:
            self.node.text = ""
        else:
            self.node.set(str(value))
            self._sync_presence()

    @on(Checkbox.Changed)
    def _checked(self, event: Checkbox.Changed) -> None:
        event.stop()
        if event.checkbox.id == widget_id(self.node.path):  # a bool field's own box
            self.node.set("true" if event.value else "false")
            self._sync_presence()
        else:  # the presence toggle
            self.node.present = event.value
