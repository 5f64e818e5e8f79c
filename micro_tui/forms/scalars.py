"""Text ⇄ proto3 JSON for the scalar kinds of a form (UI-free).

``parse`` turns what a user typed into the value ``json_format`` expects, raising
``ValueError`` with a short reason; ``render`` turns a JSON value back into text.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from datetime import UTC, datetime
from typing import Any

from micro_tui.forms.kinds import INT32_RANGE, INT64_RANGE, UINT32_RANGE, UINT64_RANGE, FieldKind, FieldSpec

__all__ = ["parse", "render", "zero_text"]

_SPECIAL_FLOATS = {
    "nan": "NaN",
    "infinity": "Infinity",
    "-infinity": "-Infinity",
    "inf": "Infinity",
    "-inf": "-Infinity",
}
_FLOAT32_MAX = 3.4028234663852886e38
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_RE = re.compile(r"^(-?\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s|m|h)$")
_INT_RE = re.compile(r"^-?\d+$")
_PATH_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_RANGES = {
    FieldKind.INT32: INT32_RANGE,
    FieldKind.UINT32: UINT32_RANGE,
    FieldKind.INT64: INT64_RANGE,
    FieldKind.UINT64: UINT64_RANGE,
}


def zero_text(spec: FieldSpec) -> str:
    """The text of the kind's zero value (what an empty list item or map value means)."""
    if spec.kind in _RANGES or spec.kind in (FieldKind.FLOAT, FieldKind.DOUBLE):
        return "0"
    if spec.kind is FieldKind.BOOL:
        return "false"
    if spec.kind is FieldKind.ENUM:
        return spec.enum_names[0] if spec.enum_names else ""
    if spec.kind is FieldKind.TIMESTAMP:
        return "1970-01-01T00:00:00Z"
    if spec.kind is FieldKind.DURATION:
        return "0s"
    if spec.kind is FieldKind.JSON:
        if spec.json_shape is dict:
            return "{}"
        return "[]" if spec.json_shape is list else "null"
    return ""


def _integer(kind: FieldKind, text: str) -> int | str:
    raw = text.strip()
    if not _INT_RE.match(raw):
        raise ValueError("digits only" if kind in (FieldKind.INT64, FieldKind.UINT64) else "not an integer")
    value = int(raw)
    low, high = _RANGES[kind]
    if not low <= value <= high:
        raise ValueError(f"out of range for {kind.value} ({low}..{high})")
    # proto3 JSON writes 64-bit integers as strings
    return str(value) if kind in (FieldKind.INT64, FieldKind.UINT64) else value


def _floating(kind: FieldKind, text: str) -> float | str:
    raw = text.strip()
    special = _SPECIAL_FLOATS.get(raw.lower())
    if special:
        return special
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("not a number (NaN and Infinity are allowed)") from None
    if math.isinf(value) or math.isnan(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if kind is FieldKind.FLOAT and abs(value) > _FLOAT32_MAX:
        raise ValueError("out of range for float")
    return value


def _timestamp(text: str) -> str:
    from google.protobuf import timestamp_pb2

    raw = text.strip()
    if raw.lower() == "now":
        return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    try:
        timestamp_pb2.Timestamp().FromJsonString(raw)
    except ValueError:
        raise ValueError("not an RFC 3339 timestamp (e.g. 2024-05-01T12:00:00Z or now)") from None
    return raw


def _duration(text: str) -> str:
    from google.protobuf import duration_pb2

    raw = text.strip()
    match = _DURATION_RE.match(raw)
    if match and match.group(2) != "s":
        seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        raw = f"{seconds:.9f}".rstrip("0").rstrip(".") + "s"
    try:
        duration_pb2.Duration().FromJsonString(raw)
    except ValueError:
        raise ValueError("not a duration (a number and a unit: 1.5s, 250ms, 2m, 1h)") from None
    return raw


def _field_mask(text: str) -> str:
    paths = [p.strip() for p in text.split(",") if p.strip()]
    for path in paths:
        if not _PATH_RE.match(path):
            raise ValueError(f"not a field path: {path!r}")
    return ",".join(paths)


def _json(spec: FieldSpec, text: str) -> Any:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    shape = spec.json_shape
    if shape is dict and not isinstance(value, dict):
        raise ValueError("must be a JSON object")
    if shape is list and not isinstance(value, list):
        raise ValueError("must be a JSON array")
    if spec.message_type is None and shape is dict and spec.descriptor is not None:
        full = spec.descriptor.message_type.full_name
        if full == "google.protobuf.Any" and value and "@type" not in value:
            raise ValueError('an Any needs "@type"')
    return value


def parse(spec: FieldSpec, text: str) -> Any:
    """The proto3 JSON value of ``text`` for ``spec``'s kind; ``ValueError`` says why not."""
    kind = spec.kind
    if kind is FieldKind.STRING:
        return text
    if kind in _RANGES:
        return _integer(kind, text)
    if kind in (FieldKind.FLOAT, FieldKind.DOUBLE):
        return _floating(kind, text)
    if kind is FieldKind.BOOL:
        if text.strip().lower() not in ("true", "false"):
            raise ValueError("true or false")
        return text.strip().lower() == "true"
    if kind is FieldKind.BYTES:
        raw = text.strip()
        try:
            base64.b64decode(
                raw + "=" * (-len(raw) % 4),
                altchars=b"-_" if "-" in raw or "_" in raw else None,
                validate=True,
            )
        except (binascii.Error, ValueError):
            raise ValueError("not base64") from None
        return raw
    if kind is FieldKind.ENUM:
        if text not in spec.enum_names:
            raise ValueError(f"one of {', '.join(spec.enum_names)}")
        return text
    if kind is FieldKind.TIMESTAMP:
        return _timestamp(text)
    if kind is FieldKind.DURATION:
        return _duration(text)
    if kind is FieldKind.FIELD_MASK:
        return _field_mask(text)
    if kind is FieldKind.JSON:
        return _json(spec, text)
    raise ValueError(f"not a scalar kind: {kind.value}")


def render(spec: FieldSpec, value: Any) -> str:
    """The text a user would type for the JSON ``value``."""
    if spec.kind is FieldKind.JSON:
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value)) if spec.kind not in (FieldKind.FLOAT, FieldKind.DOUBLE) else repr(value)
    return str(value)
