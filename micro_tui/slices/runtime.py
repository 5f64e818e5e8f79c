"""Area 6's facade slice: ``micro status`` as data; run, update, scale and kill services.

The data type is the framework's :class:`micro.runtime.Service` (:mod:`micro.runtime`
imports neither grpc nor protobuf). :func:`run_words` and friends give the ``micro`` command
line of each action, so the screen shows exactly what the CLI would run.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Protocol

from micro.runtime import Service

__all__ = ["DONE", "RuntimeFacade", "age", "kill_words", "run_words", "update_words"]

DONE = ("running", "error", "stopped")
"""Statuses that end a run's progress."""


def run_words(source: str, *, name: str = "", instances: int = 1) -> list[str]:
    """``micro run``'s words for ``source`` (a folder or a git URL)."""
    words = ["run", source]
    if name:
        words += ["--name", name]
    if instances != 1:
        words += ["--instances", str(instances)]
    return words


def update_words(name: str, *, instances: int = 0) -> list[str]:
    """``micro update NAME`` rebuilds from the recorded source; ``--instances`` rescales."""
    return ["update", name, *(["--instances", str(instances)] if instances else [])]


def kill_words(name: str) -> list[str]:
    return ["kill", name]


def age(updated: int, now: float | None = None) -> str:
    """How long ago ``updated`` (unix seconds) was, k9s-style: ``45s``, ``12m``, ``3h``, ``2d``."""
    if not updated:
        return "-"
    seconds = max(0, int((time.time() if now is None else now) - updated))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class RuntimeFacade(Protocol):
    """What the runtime area reads and does, in the current env + namespace."""

    async def status(self) -> list[Service]:
        """Every service the runtime runs here, sorted by name (``micro status``)."""
        ...

    async def run(self, source: str, *, name: str = "", instances: int = 1) -> Service:
        """Run ``source`` like ``micro run``: a folder is packed here and uploaded, a git URL
        is cloned by the server. Returns once the server accepted it (the build goes on);
        the name defaults to the folder's (or the repository's). One line of BadRequest for
        a folder that does not exist or cannot run."""
        ...

    def progress(self, name: str, *, since: float) -> AsyncIterator[str]:
        """The build's progress: the runtime's own lines about ``name`` written since
        ``since`` (unix seconds) and each status it passes, ending at one of :data:`DONE`
        (an ``error`` with its reason)."""
        ...

    async def update(self, name: str, *, instances: int = 0) -> Service:
        """Rebuild ``name`` from its recorded source and restart it; ``instances`` (not 0)
        rescales it."""
        ...

    async def kill(self, name: str) -> None:
        """Stop ``name`` and deregister it (its logs stay)."""
        ...
