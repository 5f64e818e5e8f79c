"""The comments of a schema's fields, for the form's help (UI-free).

A ``FileDescriptorSet`` built with source info (``protoc --include_source_info``) keeps each
field's comments; a descriptor pool does not, so they are read from the set itself. A set
without source info (what generated code registers) simply has none.
"""

from __future__ import annotations

from typing import Any

__all__ = ["field_comments"]

_MESSAGE_TYPE = 4  # FileDescriptorProto.message_type
_NESTED_TYPE = 3  # DescriptorProto.nested_type
_FIELD = 2  # DescriptorProto.field


def field_comments(descriptor_set: bytes) -> dict[str, str]:
    """``{"pkg.Message.field": "its comment"}`` for every commented field of the set."""
    from google.protobuf import descriptor_pb2
    from google.protobuf.message import DecodeError

    files = descriptor_pb2.FileDescriptorSet()
    try:
        files.MergeFromString(descriptor_set)
    except DecodeError:
        return {}
    found: dict[str, str] = {}
    for file in files.file:
        if not file.source_code_info.location:
            continue
        names = _field_paths(file)
        for location in file.source_code_info.location:
            name = names.get(tuple(location.path))
            text = (location.leading_comments or location.trailing_comments).strip()
            if name and text:
                found[name] = " ".join(line.strip() for line in text.splitlines())
    return found


def _field_paths(file: Any) -> dict[tuple[int, ...], str]:
    """The source path of every field of ``file`` -> its full name."""
    paths: dict[tuple[int, ...], str] = {}
    prefix = f"{file.package}." if file.package else ""

    def walk(message: Any, path: tuple[int, ...], scope: str) -> None:
        full = f"{scope}{message.name}"
        for i, field in enumerate(message.field):
            paths[(*path, _FIELD, i)] = f"{full}.{field.name}"
        for i, nested in enumerate(message.nested_type):
            walk(nested, (*path, _NESTED_TYPE, i), f"{full}.")

    for i, message in enumerate(file.message_type):
        walk(message, (_MESSAGE_TYPE, i), prefix)
    return paths
