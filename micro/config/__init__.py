"""Dynamic config: one JSON document per namespace, addressed by dotted paths.

``set`` deep-merges objects (siblings survive) and replaces anything else; secrets are kept
apart (encrypted at rest on the server) and read back as ``"[secret]"`` unless asked for;
``watch`` streams changes. Backends: :mod:`micro.config.memory` (in-process) and
:mod:`micro.config.grpc` (the config service, the default inside services).

Inside a service the module-level functions need no set-up::

    port = (await micro.config.get("db.port")).int(5432)
    async for change in micro.config.watch("db"):
        ...
"""

from __future__ import annotations

import builtins
import dataclasses
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from micro import errors

__all__ = [
    "DEFAULT_NAMESPACE",
    "Change",
    "Config",
    "Value",
    "default",
    "delete",
    "get",
    "set",
    "set_default",
    "watch",
]

DEFAULT_NAMESPACE = "micro"

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Change:
    """One change: ``path`` now holds ``value`` (None and ``deleted`` when removed).

    Secrets in ``value`` are shown as ``"[secret]"``.
    """

    path: str
    value: Any
    deleted: bool
    timestamp: datetime


class Config(ABC):
    """A config document per namespace. An empty ``namespace`` means the default one."""

    @abstractmethod
    async def get(self, path: str = "", *, namespace: str = "", secret: bool = False) -> Any:
        """The plain JSON value at ``path`` (the whole document for ``""``).

        Secrets read back as ``"[secret]"`` unless ``secret``; a missing path is
        :class:`~micro.errors.NotFound`.
        """

    @abstractmethod
    async def set(self, path: str, value: Any, *, namespace: str = "", secret: bool = False) -> None:
        """Merge ``value`` in at ``path``: an object merges deeply, anything else replaces.

        With ``secret`` every leaf of ``value`` is kept as a secret.
        """

    @abstractmethod
    async def delete(self, path: str, *, namespace: str = "") -> None:
        """Remove the subtree at ``path``; a missing path is not an error."""

    @abstractmethod
    def watch(self, path: str = "", *, namespace: str = "") -> AsyncIterator[Change]:
        """Changes at or under ``path`` (and to ``path`` itself through its parents), in order."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""


class Value:
    """A config value with typed accessors that fall back to a default and never raise.

    Accessors return the default when the path is missing or holds another type: ``int``
    accepts integers, integral floats and numeric strings; ``float`` numbers and numeric
    strings; ``bool`` booleans and ``"true"``/``"false"``/``"1"``/``"0"``; ``string`` strings only.
    """

    __slots__ = ("_exists", "_raw")

    def __init__(self, raw: Any = None, *, exists: bool = True) -> None:
        self._raw = raw
        self._exists = exists

    @classmethod
    def missing(cls) -> Value:
        return cls(None, exists=False)

    @property
    def exists(self) -> bool:
        return self._exists

    @property
    def raw(self) -> Any:
        """The plain JSON value (None when missing)."""
        return self._raw

    def get(self, path: str) -> Value:
        """The value at a dotted ``path`` below this one."""
        node = self._raw
        for key in path.split("."):
            if not isinstance(node, dict) or key not in node:
                return Value.missing()
            node = node[key]
        return Value(node)

    def string(self, default: str = "") -> str:
        return self._raw if isinstance(self._raw, str) else default

    def int(self, default: builtins.int = 0) -> builtins.int:
        raw = self._raw
        if isinstance(raw, bool):
            return default
        if isinstance(raw, builtins.int):
            return raw
        if isinstance(raw, builtins.float) and raw.is_integer():
            return builtins.int(raw)
        if isinstance(raw, str):
            try:
                return builtins.int(raw.strip())
            except ValueError:
                return default
        return default

    def float(self, default: builtins.float = 0.0) -> builtins.float:
        raw = self._raw
        if isinstance(raw, bool):
            return default
        if isinstance(raw, builtins.int | builtins.float):
            return builtins.float(raw)
        if isinstance(raw, str):
            try:
                return builtins.float(raw.strip())
            except ValueError:
                return default
        return default

    def bool(self, default: builtins.bool = False) -> builtins.bool:
        raw = self._raw
        if isinstance(raw, builtins.bool):
            return raw
        if isinstance(raw, str):
            text = raw.strip().lower()
            if text in ("true", "1", "yes", "on"):
                return True
            if text in ("false", "0", "no", "off"):
                return False
        return default

    def list(self, default: builtins.list[Any] | None = None) -> builtins.list[Any]:
        if isinstance(self._raw, builtins.list):
            return self._raw
        return builtins.list(default) if default is not None else []

    def dict(self, default: builtins.dict[str, Any] | None = None) -> builtins.dict[str, Any]:
        if isinstance(self._raw, builtins.dict):
            return self._raw
        return builtins.dict(default) if default is not None else {}

    def scan(self, model: Callable[..., T]) -> T:
        """``model(**fields)`` from this object (unknown keys dropped for a dataclass).

        A missing path or a non-object scans as ``{}``, so the model's defaults apply.
        """
        fields = self.dict()
        if isinstance(model, type) and dataclasses.is_dataclass(model):
            known = {f.name for f in dataclasses.fields(model) if f.init}
            fields = {key: value for key, value in fields.items() if key in known}
        return model(**fields)

    def __bool__(self) -> builtins.bool:
        return self._exists

    def __eq__(self, other: object) -> builtins.bool:
        if isinstance(other, Value):
            return (self._exists, self._raw) == (other._exists, other._raw)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Value({self._raw!r})" if self._exists else "Value.missing()"


# -- the module-level client used inside services ---------------------------------------

_default: Config | None = None


def set_default(config: Config | None) -> None:
    """Use ``config`` for the module-level functions (None: back to the lazy gRPC client)."""
    global _default
    _default = config


def default() -> Config:
    """The module-level client: the config service at ``MICRO_PROXY`` in ``MICRO_NAMESPACE``.

    One client per running event loop (gRPC channels belong to their loop), renewed when
    the service's token changes.
    """
    if _default is not None:
        return _default
    from micro import _platform
    from micro.config.grpc import GrpcConfig

    return _platform.loop_client(
        "micro.config", lambda address, ns, token: GrpcConfig(address, namespace=ns, token=token)
    )


async def _client() -> Config:
    """:func:`default`, once the service's credentials have a current token.

    A task that starts beside ``micro.Service`` (or outside one) may run before the service
    has logged in; without this its calls would go out with no token.
    """
    if _default is None:
        from micro import _platform

        await _platform.authenticate()
    return default()


async def get(path: str = "", *, secret: bool = False) -> Value:
    """The value at ``path``; a missing path gives a :class:`Value` that does not exist."""
    try:
        return Value(await (await _client()).get(path, secret=secret))
    except errors.NotFound:
        return Value.missing()


async def set(path: str, value: Any, *, secret: bool = False) -> None:
    await (await _client()).set(path, value, secret=secret)


async def delete(path: str) -> None:
    await (await _client()).delete(path)


async def watch(path: str = "") -> AsyncIterator[Change]:
    """Changes at or under ``path`` as they happen."""
    changes = (await _client()).watch(path)
    try:
        async for change in changes:
            yield change
    finally:
        aclose = getattr(changes, "aclose", None)
        if aclose is not None:
            await aclose()
