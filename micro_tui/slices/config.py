"""Area config's facade slice (see :mod:`micro_tui.slices`), and the UI-free rules the area
applies: the paths of a document, what a save of an edited value must send.

A namespace's config is one JSON document addressed by dotted paths. ``set`` merges an
object into what is there (siblings survive) and replaces anything else; a secret leaf reads
back as :data:`SECRET` unless asked for with ``secret=True`` (``micro config get --secret``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from micro_tui.actions import cli_line

__all__ = [
    "SECRET",
    "ConfigChange",
    "ConfigFacade",
    "ConfigNode",
    "Op",
    "at",
    "compact",
    "nodes",
    "parse_json",
    "plan_save",
    "pretty",
    "touches",
]

SECRET = "[secret]"
"""How the server shows a secret leaf to a reader that did not ask for secrets."""


@dataclass(frozen=True, slots=True)
class ConfigChange:
    """One change seen by the watch: ``path`` now holds ``value`` (secrets masked), or was
    deleted."""

    path: str
    value: Any
    deleted: bool = False


class ConfigFacade(Protocol):
    """What the config area reads and does, in the session's namespace."""

    async def document(self) -> dict[str, Any]:
        """The whole document, secrets masked (``{}`` when nothing is set)."""
        ...

    async def get(self, path: str, *, secret: bool = False) -> Any:
        """The value at ``path``; with ``secret``, secrets decrypted. A missing path is
        :class:`micro.errors.NotFound`."""
        ...

    async def set(self, path: str, value: Any, *, secret: bool = False) -> None:
        """``micro config set``: an object merges in, anything else replaces."""
        ...

    async def delete(self, path: str) -> None:
        """``micro config del``: the subtree at ``path`` (missing is not an error)."""
        ...

    def watch(self) -> AsyncIterator[ConfigChange]:
        """Every change to the document as it happens (secrets masked)."""
        ...


@dataclass(frozen=True, slots=True)
class ConfigNode:
    """A path of the document as the tree shows it."""

    path: str
    key: str
    depth: int
    value: Any
    branch: bool
    """An object (its children follow it); a leaf otherwise."""

    @property
    def secret(self) -> bool:
        return bool(self.value == SECRET)


def nodes(document: Any, prefix: str = "", depth: int = 0) -> list[ConfigNode]:
    """Every path of ``document``, depth first, keys in order (the palette and the tree)."""
    found: list[ConfigNode] = []
    if not isinstance(document, dict):
        return found
    for key in sorted(document):
        value = document[key]
        path = f"{prefix}.{key}" if prefix else key
        branch = isinstance(value, dict)
        found.append(ConfigNode(path, key, depth, value, branch))
        if branch:
            found += nodes(value, path, depth + 1)
    return found


_MISSING = object()


def at(document: Any, path: str) -> Any:
    """The value at ``path`` in ``document`` (``document`` itself for ""); KeyError when
    there is none."""
    node = document
    for key in path.split(".") if path else ():
        if not isinstance(node, dict) or key not in node:
            raise KeyError(path)
        node = node[key]
    return node


def touches(changed: str, path: str) -> bool:
    """Whether a change at ``changed`` alters the value at ``path`` (itself, a parent of it
    replaced, or something under it)."""
    return (
        not changed
        or not path
        or changed == path
        or path.startswith(changed + ".")
        or changed.startswith(path + ".")
    )


def pretty(value: Any) -> str:
    """A value as the editor shows it: indented JSON, non-ASCII as it is."""
    return json.dumps(value, indent=2, ensure_ascii=False)


def compact(value: Any) -> str:
    """A value as one line of JSON (the CLI's ``VALUE`` argument)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def parse_json(text: str) -> Any:
    """The editor's text as JSON; ValueError saying where it is not (line and column)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None


@dataclass(frozen=True, slots=True)
class Op:
    """One call of a save: set ``path`` to ``value`` (as a secret), or delete ``path``."""

    kind: str  # "set" | "del"
    path: str
    value: Any = None
    secret: bool = False

    @property
    def cli(self) -> str:
        """The CLI command that does the same."""
        if self.kind == "del":
            return cli_line("config", "del", self.path)
        words = ["config", "set", self.path, compact(self.value)]
        return cli_line(*words, "--secret") if self.secret else cli_line(*words)


def plan_save(path: str, old: Any, new: Any, *, secret: bool = False) -> list[Op]:
    """The calls that make ``path`` hold ``new`` where it held ``old`` (as the area showed
    it: secrets masked unless revealed, then ``secret`` says the value is one).

    ``set`` merges objects, so a key the edit removed is deleted first (a merge would keep
    it). A leaf still showing :data:`SECRET` is left out (sending it would replace the
    secret with that text); a masked leaf given a new value is set on its own, as a secret.
    Nothing when nothing changed."""
    if old == new:
        return []
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return [Op("set", path, new, secret)]
    deletes: list[Op] = []
    secrets: list[Op] = []
    payload = _plan_object(path, old, new, deletes, secrets)
    # deletes first, then the merge, then the secrets it must not carry
    return [*deletes, *([Op("set", path, payload)] if payload else []), *secrets]


def _plan_object(
    path: str, old: dict[str, Any], new: dict[str, Any], deletes: list[Op], secrets: list[Op]
) -> dict[str, Any]:
    """What to merge at ``path``; ``deletes`` and ``secrets`` gain the other calls it needs."""
    payload: dict[str, Any] = {}
    for key in old:
        if key not in new:
            deletes.append(Op("del", f"{path}.{key}" if path else key))
    for key, value in new.items():
        child = f"{path}.{key}" if path else key
        before = old.get(key, _MISSING)
        if before == value:
            continue
        if before == SECRET:
            secrets.append(Op("set", child, value, True))
        elif isinstance(before, dict) and isinstance(value, dict):
            inner = _plan_object(child, before, value, deletes, secrets)
            if inner:
                payload[key] = inner
        else:
            payload[key] = value
    return payload
