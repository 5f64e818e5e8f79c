"""Durations as people type them (``10s``, ``5m``, ``1h30m``, ``1d``, ``500ms``) and print them;
parsing lives in :mod:`micro._duration` (the settings read ``MICRO_TIMEOUT`` with it)."""

from __future__ import annotations

from micro._duration import MAX_SECONDS, parse_duration

__all__ = ["MAX_SECONDS", "format_duration", "parse_duration"]


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
