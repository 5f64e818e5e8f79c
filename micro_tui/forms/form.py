"""A whole request form: the field model of one message type, with JSON in and out
through ``json_format`` (UI-free, like :mod:`micro_tui.forms.model`)."""

from __future__ import annotations

import json
from typing import Any

from micro_tui.forms.kinds import FieldKind, FieldSpec
from micro_tui.forms.model import OMIT, FieldError, FormError, JsonSyntaxError, MessageNode, Node

__all__ = ["FormModel"]


class FormModel:
    """The form of one request message type, with JSON in and out through ``json_format``."""

    def __init__(self, descriptor: Any, pool: Any = None, *, comments: dict[str, str] | None = None) -> None:
        self.descriptor = descriptor
        self.pool = pool
        # the schema's field comments by full field name (:func:`~micro_tui.forms.comments.field_comments`)
        self.comments = dict(comments or {})
        root_spec = FieldSpec("", "", FieldKind.MESSAGE, message_type=descriptor)
        self.root = MessageNode(root_spec, "", descriptor, present=True)

    def errors(self) -> list[FieldError]:
        """Every field-level problem, then what ``json_format`` still refuses."""
        errors: list[FieldError] = []
        self.root.validate(errors)
        if not errors:
            try:
                self.to_message()
            except FormError as exc:
                errors.extend(exc.errors)
        return errors

    def to_dict(self) -> dict[str, Any]:
        """The request as proto3 JSON (``FormError`` names the first bad fields)."""
        errors: list[FieldError] = []
        self.root.validate(errors)
        if errors:
            raise FormError(errors)
        value = self.root.to_json()
        return {} if value is OMIT else value

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def message_class(self) -> Any:
        from google.protobuf import message_factory

        return message_factory.GetMessageClass(self.descriptor)

    def to_message(self) -> Any:
        """The protobuf message the form builds."""
        from google.protobuf import json_format

        data = self.to_dict()
        try:
            return json_format.ParseDict(data, self.message_class()(), descriptor_pool=self.pool)
        except json_format.ParseError as exc:
            raise self._refused(data, exc) from exc

    def from_json(self, text: str) -> None:
        """Load JSON text (JsonSyntaxError with the position, FormError for type errors)."""
        try:
            data = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError as exc:
            raise JsonSyntaxError(exc.msg, exc.lineno, exc.colno) from exc
        self.from_dict(data)

    def from_dict(self, data: Any) -> None:
        from google.protobuf import json_format

        if not isinstance(data, dict):
            raise FormError([FieldError("", "the request must be a JSON object")])
        try:
            message = json_format.ParseDict(data, self.message_class()(), descriptor_pool=self.pool)
        except json_format.ParseError as exc:
            raise self._refused(data, exc) from exc
        # protobuf maps keep no order: the rows come in the order the JSON gave them
        self.root.load(_ordered_like(json_format.MessageToDict(message, descriptor_pool=self.pool), data))

    def _refused(self, data: dict[str, Any], exc: Exception) -> FormError:
        """What protobuf refused in ``data``, said as ``micro call`` and the gateway say it
        (the field and what was wrong, in one line) rather than its parser's text."""
        from micro.client.dynamic import explain_refusal

        return FormError([FieldError("", explain_refusal(self.descriptor, data, exc))])

    def find(self, path: str) -> Node | None:
        for node in self.root.walk():
            if node.path == path:
                return node
        return None


def _ordered_like(loaded: Any, original: Any) -> Any:
    """``loaded`` (the JSON protobuf printed back) with its objects' keys in ``original``'s
    order, where the two have them (a map's keys; a field named ``a_b`` there and ``aB`` here)."""
    if isinstance(loaded, dict) and isinstance(original, dict):
        by_name = {_plain(k): k for k in original}
        pairs = []
        for key, value in loaded.items():
            source = key if key in original else by_name.get(_plain(key))
            pairs.append((key, value, source))
        position = {k: i for i, k in enumerate(original)}
        pairs.sort(key=lambda p: position.get(p[2], len(position)) if p[2] is not None else len(position))
        return {key: _ordered_like(value, original.get(source)) for key, value, source in pairs}
    if isinstance(loaded, list) and isinstance(original, list) and len(loaded) == len(original):
        return [_ordered_like(a, b) for a, b in zip(loaded, original, strict=True)]
    return loaded


def _plain(key: Any) -> str:
    return str(key).replace("_", "").lower()
