"""A nested message, a list or a map in a request form; rebuilds its body on change."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Label, Select

from micro_tui.forms import MapNode, MessageNode, Node, RepeatedNode, ScalarNode
from micro_tui.widgets.field_row import FieldRow, type_label, widget_id

__all__ = ["FieldGroup", "message_body", "node_widget"]


def node_widget(node: Node, label: str | None = None) -> Widget:
    if isinstance(node, ScalarNode):
        return FieldRow(node, label)
    return FieldGroup(node, label)


def message_body(node: MessageNode) -> list[Widget]:
    """The widgets of a set message: fields in order, each oneof as a choice + its member."""
    widgets: list[Widget] = []
    seen_oneofs: set[str] = set()
    for spec in node.specs:
        if spec.oneof:
            if spec.oneof in seen_oneofs:
                continue
            seen_oneofs.add(spec.oneof)
            members = [s.name for s in node.specs if s.oneof == spec.oneof]
            node.children  # noqa: B018 - builds the choices
            chosen = node.choices.get(spec.oneof, "")
            select: Select[str] = Select(
                [(m, m) for m in members],
                value=chosen or Select.NULL,
                prompt="(none)",
                id=widget_id(f"{node.path}.{spec.oneof}" if node.path else spec.oneof) + "-oneof",
                name=spec.oneof,
                compact=True,
            )
            widgets.append(
                Horizontal(Label(f"{spec.oneof} oneof", classes="field-label"), select, classes="oneof-row")
            )
            if chosen:
                widgets.append(node_widget(node.child(chosen)))
            continue
        widgets.append(node_widget(node.child(spec.name)))
    return widgets


class FieldGroup(Vertical):
    """Shows a :class:`MessageNode` (presence toggle), :class:`RepeatedNode` or :class:`MapNode`."""

    def __init__(self, node: Node, label: str | None = None) -> None:
        super().__init__(id=widget_id(node.path))
        self.node = node
        title = label if label is not None else node.spec.name
        # the type as the .proto spells it: map<int64, Address>, repeated Inner, Inner
        if isinstance(node, RepeatedNode):
            type_name = f"repeated {node.spec.type_name}"
        else:
            type_name = node.spec.type_name if node.spec.descriptor is not None else type_label(node)
        self.border_title = Content(f"{title} · {type_name}")  # names from the server: never markup

    def compose(self) -> ComposeResult:
        node = self.node
        with Horizontal(classes="group-bar"):
            if isinstance(node, MessageNode) and node.path and not _is_item(node):
                yield Checkbox("set", node.present, id=widget_id(node.path) + "-set", compact=True)
            if isinstance(node, RepeatedNode | MapNode):
                yield Button("+ add", name="add", compact=True, id=widget_id(node.path) + "-add")
        with Vertical(classes="group-body"):
            yield from self._body()

    def _body(self) -> list[Widget]:
        node = self.node
        if isinstance(node, MessageNode):
            return message_body(node) if node.present else []
        if isinstance(node, RepeatedNode):
            rows: list[Widget] = []
            for i, item in enumerate(node.items):
                rows.append(Horizontal(
                    node_widget(item, f"[{i}]"),
                    Button("↑", name=f"up:{i}", compact=True),
                    Button("✕", name=f"remove:{i}", compact=True),
                    classes="item-row",
                ))  # fmt: skip
            return rows
        if isinstance(node, MapNode):
            rows = []
            for i, (key, value) in enumerate(node.rows):
                rows.append(
                    Horizontal(
                        FieldRow(key, "key"),
                        Button("✕", name=f"remove:{i}", compact=True),
                        classes="item-row",
                    )
                )
                rows.append(node_widget(value, "  value"))
            return rows
        return []

    async def rebuild(self) -> None:
        body = self.query_one(".group-body", Vertical)
        await body.remove_children()
        await body.mount_all(self._body())

    @on(Checkbox.Changed)
    async def _presence(self, event: Checkbox.Changed) -> None:
        if event.checkbox.id != widget_id(self.node.path) + "-set":
            return
        event.stop()
        assert isinstance(self.node, MessageNode)
        self.node.present = event.value
        await self.rebuild()

    @on(Button.Pressed)
    async def _button(self, event: Button.Pressed) -> None:
        name = event.button.name or ""
        node = self.node
        if event.button.parent is not None and _owner(event.button) is not self:
            return
        event.stop()
        if name == "add" and isinstance(node, RepeatedNode | MapNode):
            node.add()
        elif name.startswith("remove:") and isinstance(node, RepeatedNode | MapNode):
            node.remove(int(name.split(":")[1]))
        elif name.startswith("up:") and isinstance(node, RepeatedNode):
            node.move(int(name.split(":")[1]), -1)
        await self.rebuild()

    @on(Select.Changed, ".oneof-row Select")
    async def _oneof(self, event: Select.Changed) -> None:
        if _owner(event.select) is not self or not isinstance(self.node, MessageNode):
            return
        event.stop()
        await choose(self.node, event, self.rebuild)


def _is_item(node: Node) -> bool:
    return node.path.endswith("]") or node.path.endswith(".value")


def _owner(widget: Widget) -> Any:
    """The nearest FieldGroup (or FormView) holding ``widget``."""
    from micro_tui.widgets.form_view import FormView

    parent = widget.parent
    while parent is not None and not isinstance(parent, FieldGroup | FormView):
        parent = parent.parent
    return parent


async def choose(node: MessageNode, event: Select.Changed, rebuild: Any) -> None:
    member = "" if event.value in (Select.NULL, Select.BLANK) else str(event.value)
    oneof = event.select.name or ""
    if node.choices.get(oneof, "") == member:
        return
    node.choose(oneof, member)
    await rebuild()
