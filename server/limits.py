"""The core services' checks of :class:`micro.settings.Limits`: lengths of names and the open
watches of each caller. Each refusal is one line naming the field and the limit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from micro import errors
from micro.settings import limits
from server.auth.context import current

__all__ = ["Watches", "check_length", "check_metadata"]


def check_length(field: str, value: str, limit: int | None = None) -> None:
    """Refuse a name, id or path longer than ``limit`` characters (``MICRO_LIMIT_NAME_CHARS``)."""
    limit = limit or limits().name_chars
    if len(value) > limit:
        raise errors.BadRequest(f"{field} too long: {len(value)} characters (limit {limit})")


def check_metadata(field: str, metadata: Any) -> None:
    """Refuse metadata (a map of strings) larger than ``MICRO_LIMIT_METADATA_BYTES``."""
    limit = limits().metadata_bytes
    size = sum(len(k.encode(errors="replace")) + len(v.encode(errors="replace")) for k, v in metadata.items())
    if size > limit:
        raise errors.TooLarge(f"{field} too large: {size} bytes (limit {limit})")


def _caller_key(context: Any) -> str:
    """Who holds a watch: the account (id and issuer), else the peer's host (anonymous reads
    of the ``micro`` registry)."""
    caller = current()
    if caller is not None and caller.account is not None:
        return f"account:{caller.account.issuer}/{caller.account.id}"
    peer = str(context.peer() or "")
    return "peer:" + peer.rsplit(":", 1)[0]  # without the port: one host, one count


class Watches:
    """Open watches per caller, at most ``MICRO_LIMIT_WATCHES`` each (shared by the
    registry's and config's Watch, so the limit is per caller, not per service)."""

    def __init__(self) -> None:
        self._open: dict[str, int] = {}

    @contextmanager
    def hold(self, context: Any) -> Iterator[None]:
        """One open watch of the call's caller for the duration of the block.

        Raises:
            TooManyRequests: the caller already has the most it may have open.
        """
        key = _caller_key(context)
        held = self._open.get(key, 0)
        limit = limits().watches
        if held >= limit:
            raise errors.TooManyRequests(f"too many open watches: {held} (limit {limit} per caller)")
        self._open[key] = held + 1
        try:
            yield
        finally:
            left = self._open[key] - 1
            if left:
                self._open[key] = left
            else:
                del self._open[key]

    def __len__(self) -> int:
        return sum(self._open.values())


#: the server's one count of open watches
WATCHES = Watches()
