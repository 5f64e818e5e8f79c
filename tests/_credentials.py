"""Stored logins in tests: make a stored access token due for renewal at once, instead of
waiting for a token with a lifetime of a second or two to lapse (which a loaded machine
turns into a race)."""

from __future__ import annotations

import json
import time
from pathlib import Path

__all__ = ["expire_access_token", "stored_access_token"]


def stored_access_token(home: Path, key: str = "local/micro") -> str | None:
    """The access token stored for ``key`` in ``home`` (None: none stored yet)."""
    try:
        entry = json.loads((home / "tokens.json").read_text()).get(key)
    except (OSError, ValueError):
        return None
    return str(entry["access_token"]) if isinstance(entry, dict) else None


def expire_access_token(home: Path, key: str = "local/micro") -> str:
    """Mark the access token stored for ``key`` (env/namespace) in ``home`` as expired, so the
    next command or ping renews it with the refresh token; returns that access token."""
    path = home / "tokens.json"
    data = json.loads(path.read_text())
    data[key]["expiry"] = int(time.time()) - 1
    path.write_text(json.dumps(data))
    return str(data[key]["access_token"])
