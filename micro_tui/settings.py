"""The workspace's own files under ``MICRO_HOME``: settings (theme, pinned namespaces),
the keymap, history, collections and user themes."""

from __future__ import annotations

import json
import logging
import tomllib
from pathlib import Path
from typing import Any

__all__ = [
    "collections_dir",
    "history_dir",
    "keymap",
    "load",
    "save",
    "themes_dir",
]

log = logging.getLogger(__name__)


def _home() -> Path:
    from micro import _paths

    return _paths.home()


def _settings_file() -> Path:
    return _home() / "workspace.json"


def history_dir() -> Path:
    return _home() / "history"


def collections_dir() -> Path:
    return _home() / "collections"


def themes_dir() -> Path:
    return _home() / "themes"


def load() -> dict[str, Any]:
    """The saved settings (``{}`` when none or unreadable)."""
    try:
        data = json.loads(_settings_file().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save(**changes: Any) -> None:
    """Merge ``changes`` into the saved settings."""
    from micro import _paths

    data = load()
    data.update(changes)
    _paths.write_private(_settings_file(), json.dumps(data, indent=2, sort_keys=True) + "\n")


def keymap() -> tuple[dict[str, str], str]:
    """Binding id → keys from ``MICRO_HOME/keymap.toml`` (a ``[keymap]`` table or top-level
    keys), e.g. ``services.filter = "slash,f"``, and what is wrong with the file ("" when
    nothing): an unreadable file is ignored, a value that is not a string is skipped."""
    path = _home() / "keymap.toml"
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return {}, ""
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        log.warning("ignoring %s: %s", path, exc)
        return {}, f"{path} is ignored: {exc}"
    table = data.get("keymap", data)
    out: dict[str, str] = {}
    skipped: list[str] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else key, sub)
        elif isinstance(value, str) and value.strip():
            out[prefix] = value
        else:
            skipped.append(prefix)

    walk("", table)
    problem = f'{path}: skipped {", ".join(skipped)} (keys must be a string, e.g. "f")' if skipped else ""
    return out, problem


def unknown_bindings(keymap: dict[str, str], known: set[str]) -> str:
    """What to say about ids in ``keymap`` that no binding has ("" when all are known)."""
    unknown = sorted(set(keymap) - known)
    if not unknown:
        return ""
    return f"keymap.toml: no binding has the id {', '.join(unknown)} (see ? for the ids)"
