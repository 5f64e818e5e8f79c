"""Durations as people type them (``10s``, ``5m``, ``1h30m``, ``1d``, ``500ms``) and print them:
the one parser of the settings (``MICRO_TIMEOUT``), the CLI (``--timeout``, ``--expiry``) and
the workspace (deadline and TTL fields)."""

from __future__ import annotations

import re

__all__ = ["MAX_SECONDS", "format_duration", "parse_duration"]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
# Go's longest time.Duration (about 292 years); anything longer is refused, as Go does
MAX_SECONDS = (2**63 - 1) / 1e9


def parse_duration(text: str) -> float:
    """Seconds in ``text``; a bare number means seconds. Raises ValueError when invalid."""
    raw = text.strip().lower()
    if not raw:
        raise ValueError(text)
    try:
        seconds = float(raw)
    except ValueError:
        pos, seconds = 0, 0.0
        for match in _PART.finditer(raw):
            if match.start() != pos:
                raise ValueError(text) from None
            seconds += float(match.group(1)) * _UNITS[match.group(2)]
            pos = match.end()
        if pos != len(raw):
            raise ValueError(text) from None
    if not 0 <= seconds <= MAX_SECONDS:  # also refuses nan and inf
        raise ValueError(text)
    return seconds


def format_duration(seconds: float) -> str:
    """Whole seconds the Go way: ``9s``, ``5m3s``, ``2h0m0s``."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
