"""The runtime: services built from source, supervised and logged by the server.

Domain types and the :class:`Runtime` interface; :mod:`micro.runtime.grpc` is the client the
CLI uses, the server's local-process backend lives in ``server.runtime``. States run
``pending → building → starting → running``; ``stopping → stopped``; ``error`` carries the
reason.
"""

from __future__ import annotations

import builtins
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from micro import errors

__all__ = [
    "STATUSES",
    "LogBatch",
    "LogRecord",
    "Runtime",
    "Service",
    "check_name",
]

STATUSES = ("pending", "building", "starting", "running", "stopping", "stopped", "error")
_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


def check_name(name: str) -> str:
    """``name`` when it can be a runtime service's name, else BadRequest (one line)."""
    from micro.registry import RESERVED_NAMES

    if not _NAME.match(name) or len(name) > 63:
        raise errors.BadRequest(
            f"invalid service name {name!r}: lower-case letters, digits and dashes, starting with a letter"
        )
    if name in RESERVED_NAMES:
        raise errors.BadRequest(f"the name {name} is taken by a core service")
    return name


@dataclass(slots=True)
class Service:
    """A service as the runtime keeps it."""

    name: str
    version: str = "latest"
    source: str = ""
    status: str = "pending"
    error: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    updated: int = 0
    instances: int = 1
    retries: int = 0
    build: str = ""


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One line a service wrote: ``ts`` in unix nanoseconds, ``stream`` stdout, stderr or
    runtime (the supervisor's own lines about it), ``instance`` from 0."""

    ts: int
    stream: str
    instance: int
    line: str


@dataclass(frozen=True, slots=True)
class LogBatch:
    """Records sent together; ``dropped`` lines were lost before them (a slow follower)."""

    records: tuple[LogRecord, ...]
    dropped: int = 0


class Runtime(ABC):
    """Services run from sources. Empty ``namespace`` means the caller's."""

    @abstractmethod
    async def upload(self, name: str, chunks: AsyncIterator[bytes], *, namespace: str = "") -> str:
        """Store a packed source (tar.gz) for ``name``; returns its upload id."""

    @abstractmethod
    async def create(
        self,
        service: Service,
        *,
        upload: str = "",
        subfolder: str = "",
        env: builtins.list[str] | None = None,
        instances: int = 1,
        namespace: str = "",
        command: builtins.list[str] | None = None,
        args: builtins.list[str] | None = None,
    ) -> Service:
        """Run ``service`` from ``upload`` (or the git source ``service.source``, cloned by
        the build); returns once the request is accepted (status pending), the build goes
        on. ``command`` replaces the entry point, ``args`` follow it."""

    @abstractmethod
    async def read(self, name: str = "", *, namespace: str = "") -> builtins.list[Service]:
        """Every service of the namespace (``name``: only that one, NotFound if absent)."""

    @abstractmethod
    async def update(
        self,
        name: str,
        *,
        upload: str = "",
        subfolder: str = "",
        instances: int = 0,
        env: builtins.list[str] | None = None,
        namespace: str = "",
    ) -> Service:
        """Rebuild ``name`` (from ``upload`` or the recorded source) and restart it."""

    @abstractmethod
    async def delete(self, name: str, *, namespace: str = "") -> None:
        """Stop ``name``, deregister it, delete its account; its logs stay."""

    @abstractmethod
    def logs(
        self, name: str, *, count: int = 15, follow: bool = False, since: float = 0, namespace: str = ""
    ) -> AsyncIterator[LogBatch]:
        """The last ``count`` lines of ``name`` (since ``since``), then new ones with ``follow``."""

    async def drop_namespace(self, namespace: str) -> None:  # noqa: B027 - optional hook
        """Forget a deleted namespace's services, sources and logs (backends that keep any)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""
