"""Theme files (the fields of ``textual.theme.Theme``, as TOML or JSON) and the stylesheet.

House themes ship in ``themes/`` (``micro_tui/themes`` inside the wheel, the repository's
``themes/`` in an editable checkout); users add their own in ``MICRO_HOME/themes/``.
"""

from __future__ import annotations

import json
import logging
import tomllib
from pathlib import Path
from typing import Any

from micro_tui import settings

__all__ = ["DEFAULT_THEME", "house_dir", "load_themes", "stylesheet"]

log = logging.getLogger(__name__)

DEFAULT_THEME = "micro-dark"
_FIELDS = [
    "name",
    "primary",
    "secondary",
    "warning",
    "error",
    "success",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
    "dark",
    "luminosity_spread",
    "text_alpha",
    "variables",
]


def house_dir() -> Path:
    """The folder holding ``app.tcss`` and the house themes."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "themes", here.parent / "themes"):
        if (candidate / "app.tcss").is_file():
            return candidate
    return here / "themes"


def stylesheet() -> Path:
    return house_dir() / "app.tcss"


def _read(path: Path) -> dict[str, Any]:
    text = path.read_text()
    data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    if not isinstance(data, dict) or not data.get("name") or not data.get("primary"):
        raise ValueError("a theme needs at least name and primary")
    return {k: v for k, v in data.items() if k in _FIELDS}


def load_themes() -> list[Any]:
    """House themes, then the user's (a user theme may replace a house one by name)."""
    from textual.theme import Theme

    found: dict[str, Any] = {}
    folders = [house_dir(), settings.themes_dir()]
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.suffix not in (".toml", ".json"):
                continue
            try:
                data = _read(path)
                found[data["name"]] = Theme(**data)
            except (OSError, ValueError, TypeError, tomllib.TOMLDecodeError) as exc:
                log.warning("ignoring theme %s: %s", path, exc)
    return list(found.values())
