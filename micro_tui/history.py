"""Call history per environment and named collections of saved requests (JSON files under
``MICRO_HOME/history`` and ``MICRO_HOME/collections``)."""

from __future__ import annotations

import json
import re
import shlex
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from micro_tui import settings

__all__ = [
    "Entry",
    "UnreadableFile",
    "cli_line",
    "collection_names",
    "delete_from_collection",
    "grpcurl_line",
    "load_collection",
    "load_history",
    "record",
    "rename_in_collection",
    "save_to_collection",
]

MAX_HISTORY = 500


@dataclass(slots=True)
class Entry:
    """One request: where it went and what it carried (and, in history, how it ended)."""

    service: str
    endpoint: str
    request: str
    namespace: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    name: str = ""
    status: str = ""
    elapsed_ms: float = 0.0
    at: float = 0.0

    def cli(self) -> str:
        """The equivalent ``micro call`` (or ``micro stream``) line."""
        return cli_line(self.service, self.endpoint, self.request, self.metadata)


def cli_line(
    service: str,
    endpoint: str,
    request: str,
    metadata: dict[str, str] | None = None,
    *,
    stream: bool = False,
    env: str = "",
    namespace: str = "",
    timeout: float | None = None,
) -> str:
    """The ``micro call`` (or ``micro stream``) line of a request; ``env``, ``namespace`` and
    ``timeout`` (0: none) are named when given, so the pasted line makes the same call."""
    try:
        compact = json.dumps(json.loads(request or "{}"), separators=(",", ":"))
    except ValueError:
        compact = request
    quoted = _quote(compact)
    flags = "".join(f" --metadata {shlex.quote(f'{k}={v}')}" for k, v in (metadata or {}).items())
    if timeout is not None:
        flags += f" --timeout {timeout:g}s"
    context = (f" -e {shlex.quote(env)}" if env else "") + (
        f" --namespace {shlex.quote(namespace)}" if namespace else ""
    )
    return f"micro{context} {'stream' if stream else 'call'}{flags} {service} {endpoint} {quoted}"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def grpcurl_line(
    address: str,
    namespace: str,
    service: str,
    method: str,
    request: str,
    metadata: dict[str, str] | None = None,
    *,
    protoset: str = "",
) -> str:
    """The same call with grpcurl through the proxy (``method`` is ``/pkg.Handler/Method``);
    the schema comes from ``protoset`` (the proxy serves no reflection), the token from
    ``micro user token``."""
    try:
        compact = json.dumps(json.loads(request or "{}"), separators=(",", ":"))
    except ValueError:
        compact = request
    headers = {"micro-namespace": namespace, "micro-service": service, **(metadata or {})}
    parts = ["grpcurl", "-plaintext"]
    if protoset:
        parts += ["-protoset", _quote(protoset)]
    parts += ['-H "authorization: Bearer $(micro user token)"']
    parts += [f"-H {_quote(f'{k}: {v}')}" for k, v in headers.items()]
    parts += ["-d", _quote(compact), address, method.lstrip("/")]
    return " ".join(parts)


def write_protoset(service: str, descriptor_set: bytes) -> str:
    """Keep ``service``'s registered schema as ``MICRO_HOME/protosets/<service>.protoset``."""
    from micro import _paths

    path = _paths.home() / "protosets" / f"{_safe(service)}.protoset"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(descriptor_set)
    return str(path)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "default"


class UnreadableFile(ValueError):
    """A history or collection file that exists but is not a JSON list of requests."""


def _read(path: Any, *, strict: bool = False) -> list[dict[str, Any]]:
    """The entries in ``path`` (none when missing); an unreadable file reads as empty, or
    raises :class:`UnreadableFile` when ``strict`` (before a write would replace it)."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        if strict:
            raise UnreadableFile(f"{path} is not readable ({exc}); fix or remove it") from exc
        return []
    if not isinstance(data, list):
        if strict:
            raise UnreadableFile(f"{path} is not a JSON list; fix or remove it")
        return []
    return [d for d in data if isinstance(d, dict)]


def _write(path: Any, entries: list[dict[str, Any]]) -> None:
    from micro import _paths

    _paths.write_private(path, json.dumps(entries, indent=1) + "\n")


def _entries(raw: list[dict[str, Any]]) -> list[Entry]:
    known = set(Entry.__dataclass_fields__)
    return [Entry(**{k: v for k, v in d.items() if k in known}) for d in raw]


def record(env: str, entry: Entry) -> None:
    """Append ``entry`` to ``env``'s history (newest last, bounded)."""
    entry.at = entry.at or time.time()
    path = settings.history_dir() / f"{_safe(env)}.json"
    try:
        entries = _read(path, strict=True)
    except UnreadableFile:  # keep the broken file for its owner; start a new one
        path.replace(path.with_name(path.name + ".broken"))
        entries = []
    entries.append(asdict(entry))
    _write(path, entries[-MAX_HISTORY:])


def load_history(env: str) -> list[Entry]:
    return _entries(_read(settings.history_dir() / f"{_safe(env)}.json"))


def save_to_collection(collection: str, entry: Entry) -> None:
    """Save ``entry`` (replacing one of the same name) in the named collection; raises
    :class:`UnreadableFile` rather than write over a collection it cannot read."""
    path = settings.collections_dir() / f"{_safe(collection)}.json"
    entries = [e for e in _read(path, strict=True) if e.get("name") != entry.name]
    entries.append(asdict(entry))
    _write(path, entries)


def collection_names() -> list[str]:
    folder = settings.collections_dir()
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


def load_collection(collection: str) -> list[Entry]:
    return _entries(_read(settings.collections_dir() / f"{_safe(collection)}.json"))


def delete_from_collection(collection: str, name: str) -> None:
    """Remove the saved request ``name``; raises :class:`UnreadableFile` rather than write
    over a collection it cannot read."""
    path = settings.collections_dir() / f"{_safe(collection)}.json"
    _write(path, [e for e in _read(path, strict=True) if e.get("name") != name])


def rename_in_collection(collection: str, name: str, new_name: str) -> None:
    """Give the saved request ``name`` the name ``new_name`` (replacing one so named)."""
    path = settings.collections_dir() / f"{_safe(collection)}.json"
    entries = [e for e in _read(path, strict=True) if e.get("name") != new_name or name == new_name]
    for entry in entries:
        if entry.get("name") == name:
            entry["name"] = new_name
    _write(path, entries)
