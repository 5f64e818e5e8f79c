"""Request forms from protobuf descriptors: a UI-free field model."""

from micro_tui.forms.comments import field_comments
from micro_tui.forms.form import FormModel
from micro_tui.forms.kinds import FieldKind, FieldSpec, spec_for
from micro_tui.forms.model import (
    OMIT,
    FieldError,
    FormError,
    JsonSyntaxError,
    MapNode,
    MessageNode,
    Node,
    RepeatedNode,
    ScalarNode,
)
from micro_tui.forms.pool import pool_from_descriptor_set

__all__ = [
    "OMIT",
    "FieldError",
    "FieldKind",
    "FieldSpec",
    "FormError",
    "FormModel",
    "JsonSyntaxError",
    "MapNode",
    "MessageNode",
    "Node",
    "RepeatedNode",
    "ScalarNode",
    "field_comments",
    "pool_from_descriptor_set",
    "spec_for",
]
