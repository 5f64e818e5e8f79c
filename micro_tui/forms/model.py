"""The field model of a request form: a tree of nodes built from a message descriptor
(the whole form over it is :class:`~micro_tui.forms.form.FormModel`).

UI-free (no Textual): the invoke screen renders it, tests drive it directly. Children of a
message are built only when the message is set, so recursive types are safe. ``to_json``
produces proto3 JSON (what ``json_format`` reads); ``load`` takes the JSON ``json_format``
writes, so Form → JSON → Form round-trips.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from micro_tui.forms import scalars
from micro_tui.forms.kinds import FieldKind, FieldSpec, spec_for

__all__ = [
    "OMIT",
    "FieldError",
    "FormError",
    "JsonSyntaxError",
    "MapNode",
    "MessageNode",
    "Node",
    "RepeatedNode",
    "ScalarNode",
]


class _Omit:
    def __repr__(self) -> str:
        return "OMIT"


OMIT: Any = _Omit()
"""What ``Node.to_json`` returns for a field that is not sent."""


@dataclass(frozen=True, slots=True)
class FieldError:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '(request)'}: {self.message}"


class FormError(ValueError):
    """The form does not make a valid message; ``errors`` name each field."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


class JsonSyntaxError(ValueError):
    """JSON text that does not parse; ``line`` and ``column`` are 1-based."""

    def __init__(self, message: str, line: int, column: int) -> None:
        self.line, self.column, self.reason = line, column, message
        super().__init__(f"invalid JSON at line {line} column {column}: {message}")


class Node:
    """One field's value in the form."""

    def __init__(self, spec: FieldSpec, path: str) -> None:
        self.spec = spec
        self.path = path

    def to_json(self) -> Any:
        raise NotImplementedError

    def load(self, value: Any) -> None:
        raise NotImplementedError

    def validate(self, errors: list[FieldError]) -> None:
        raise NotImplementedError

    def walk(self) -> list[Node]:
        """This node and every built node below it, depth first."""
        return [self]


class ScalarNode(Node):
    """A scalar (or a scalar-like well-known type) edited as text.

    ``item`` nodes (list items, map keys and values) are always sent; a field with
    presence is sent when ``present``; an implicit-presence field is sent when non-empty.
    """

    def __init__(self, spec: FieldSpec, path: str, *, item: bool = False) -> None:
        super().__init__(spec, path)
        self.item = item
        self.text = scalars.zero_text(spec) if item else ""
        self.present = False

    @property
    def is_sent(self) -> bool:
        if self.item:
            return True
        if self.spec.presence:
            return self.present
        if self.spec.kind is FieldKind.BOOL:
            return self.text == "true"
        return self.text != ""

    def set(self, text: str) -> None:
        """Set the text (and, for a field with presence, mark it present)."""
        self.text = text
        if self.spec.presence:
            self.present = True

    def to_json(self) -> Any:
        if not self.is_sent:
            return OMIT
        text = (
            self.text
            if self.text != "" or self.spec.kind is FieldKind.STRING
            else scalars.zero_text(self.spec)
        )
        return scalars.parse(self.spec, text)

    def validate(self, errors: list[FieldError]) -> None:
        try:
            self.to_json()
        except ValueError as exc:
            errors.append(FieldError(self.path, str(exc)))

    def load(self, value: Any) -> None:
        self.text = scalars.render(self.spec, value)
        self.present = True


class MessageNode(Node):
    """A message: a presence toggle (except at the root and in lists) and lazy children."""

    def __init__(self, spec: FieldSpec, path: str, descriptor: Any, *, present: bool = False) -> None:
        super().__init__(spec, path)
        self.descriptor = descriptor
        self._present = present
        self._children: dict[str, Node] | None = None
        # each real oneof's chosen member ("" = none)
        self.choices: dict[str, str] = {}

    @property
    def present(self) -> bool:
        return self._present

    @present.setter
    def present(self, value: bool) -> None:
        self._present = value

    @property
    def specs(self) -> list[FieldSpec]:
        return [spec_for(fd) for fd in self.descriptor.fields]

    @property
    def built(self) -> bool:
        return self._children is not None

    @property
    def children(self) -> dict[str, Node]:
        """Child nodes in declaration order (built on first access)."""
        if self._children is None:
            self._children = {}
            for spec in self.specs:
                self._children[spec.name] = make_node(spec, _join(self.path, spec.name))
                if spec.oneof:
                    self.choices.setdefault(spec.oneof, "")
        return self._children

    def child(self, name: str) -> Node:
        return self.children[name]

    def choose(self, oneof: str, member: str) -> None:
        """Pick the oneof member that is sent ("" for none)."""
        self.children  # noqa: B018 - builds the choices table
        if oneof not in self.choices:
            raise KeyError(oneof)
        self.choices[oneof] = member
        self.present = True

    def is_active(self, spec: FieldSpec) -> bool:
        """Whether a field is shown/sent: oneof members only when chosen."""
        return not spec.oneof or self.choices.get(spec.oneof) == spec.name

    def to_json(self) -> Any:
        if not self.present:
            return OMIT
        out: dict[str, Any] = {}
        if self._children is None:
            return out
        for node in self._children.values():
            if not self.is_active(node.spec):
                continue
            value = node.to_json()
            if value is not OMIT:
                out[node.spec.json_name] = value
        return out

    def validate(self, errors: list[FieldError]) -> None:
        if not self.present or self._children is None:
            return
        for node in self._children.values():
            if self.is_active(node.spec):
                node.validate(errors)

    def load(self, value: Any) -> None:
        self.present = True
        self._children = None
        self.choices = {}
        by_json = {spec.json_name: spec for spec in self.specs}
        children = self.children
        for key, item in (value or {}).items():
            spec = by_json.get(key)
            if spec is None:
                continue
            children[spec.name].load(item)
            if spec.oneof:
                self.choices[spec.oneof] = spec.name

    def walk(self) -> list[Node]:
        nodes: list[Node] = [self]
        if self._children is not None:
            for node in self._children.values():
                if self.is_active(node.spec):
                    nodes.extend(node.walk())
        return nodes


class RepeatedNode(Node):
    """``repeated T``: items that can be added, removed and moved."""

    def __init__(self, spec: FieldSpec, path: str) -> None:
        super().__init__(spec, path)
        self.items: list[Node] = []

    def _item(self, index: int) -> Node:
        item_spec = FieldSpec(
            self.spec.name,
            self.spec.json_name,
            self.spec.kind,
            self.spec.descriptor,
            message_type=self.spec.message_type,
            enum_names=self.spec.enum_names,
            json_shape=self.spec.json_shape,
        )
        return make_node(item_spec, f"{self.path}[{index}]", item=True)

    def add(self) -> Node:
        node = self._item(len(self.items))
        self.items.append(node)
        return node

    def remove(self, index: int) -> None:
        del self.items[index]
        self._renumber()

    def move(self, index: int, delta: int) -> None:
        target = index + delta
        if 0 <= target < len(self.items):
            self.items.insert(target, self.items.pop(index))
            self._renumber()

    def _renumber(self) -> None:
        for i, item in enumerate(self.items):
            _repath(item, f"{self.path}[{i}]")

    def to_json(self) -> Any:
        return [item.to_json() for item in self.items] if self.items else OMIT

    def validate(self, errors: list[FieldError]) -> None:
        for item in self.items:
            item.validate(errors)

    def load(self, value: Any) -> None:
        self.items = []
        for raw in value or []:
            self.add().load(raw)

    def walk(self) -> list[Node]:
        return [self, *(n for item in self.items for n in item.walk())]


class MapNode(Node):
    """``map<K, V>``: rows of key and value; keys must be unique."""

    def __init__(self, spec: FieldSpec, path: str) -> None:
        super().__init__(spec, path)
        self.rows: list[tuple[ScalarNode, Node]] = []

    def add(self) -> tuple[ScalarNode, Node]:
        assert self.spec.map_key is not None and self.spec.map_value is not None
        i = len(self.rows)
        key = ScalarNode(self.spec.map_key, f"{self.path}[{i}].key", item=True)
        value = make_node(self.spec.map_value, f"{self.path}[{i}].value", item=True)
        self.rows.append((key, value))
        return key, value

    def remove(self, index: int) -> None:
        del self.rows[index]
        for i, (key, value) in enumerate(self.rows):
            _repath(key, f"{self.path}[{i}].key")
            _repath(value, f"{self.path}[{i}].value")

    def to_json(self) -> Any:
        if not self.rows:
            return OMIT
        # JSON object keys are strings whatever the key type
        return {
            str(scalars.parse(key.spec, key.text)).lower()
            if key.spec.kind is FieldKind.BOOL
            else str(scalars.parse(key.spec, key.text)): value.to_json()
            for key, value in self.rows
        }

    def validate(self, errors: list[FieldError]) -> None:
        seen: dict[str, int] = {}
        for i, (key, value) in enumerate(self.rows):
            before = len(errors)
            key.validate(errors)
            if len(errors) == before:
                canonical = str(scalars.parse(key.spec, key.text))
                if canonical in seen:
                    errors.append(
                        FieldError(key.path, f"duplicate key {key.text!r} (also row {seen[canonical]})")
                    )
                seen.setdefault(canonical, i)
            value.validate(errors)

    def load(self, value: Any) -> None:
        self.rows = []
        for raw_key, raw_value in (value or {}).items():
            key, node = self.add()
            key.text = str(raw_key)
            node.load(raw_value)

    def walk(self) -> list[Node]:
        return [self, *(n for key, value in self.rows for n in (key, *value.walk()))]


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _repath(node: Node, path: str) -> None:
    old = node.path
    for sub in node.walk():
        sub.path = path + sub.path[len(old) :]


def make_node(spec: FieldSpec, path: str, *, item: bool = False) -> Node:
    """The node for ``spec``: a list or map when repeated, else by kind."""
    if spec.is_map and not item:
        return MapNode(spec, path)
    if spec.repeated and not item:
        return RepeatedNode(spec, path)
    if spec.kind is FieldKind.MESSAGE:
        return MessageNode(spec, path, spec.message_type, present=item)
    return ScalarNode(spec, path, item=item)
