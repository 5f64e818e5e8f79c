"""Pure functions on a config document: a JSON object addressed by dotted paths.

A path is a dot-separated list of non-empty, case-sensitive keys (``"db.host"``); the empty
path is the whole document. Functions never mutate their arguments: they return new trees
that share untouched subtrees with the old ones.

Secret leaves are marked in the tree as ``{"$secret": <payload>}`` (the payload is whatever
the backend keeps: the value itself in memory, a ciphertext on the server). Marked nodes are
leaves for merging, so a deep merge never looks inside (or exposes) a secret.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from micro import errors
from micro.settings import limits

__all__ = [
    "MASK",
    "SECRET_KEY",
    "check_value",
    "delete",
    "exists",
    "is_secret",
    "lookup",
    "mask",
    "merge",
    "reveal",
    "seal",
    "set_at",
    "split",
]

SECRET_KEY = "$secret"
MASK = "[secret]"

_MISSING = object()


def split(path: str, *, allow_root: bool = False) -> list[str]:
    """The keys of ``path``; :class:`~micro.errors.BadRequest` for an invalid one."""
    if path == "":
        if allow_root:
            return []
        raise errors.BadRequest("path is required")
    limit = limits().name_chars
    if len(path) > limit:
        raise errors.BadRequest(f"path too long: {len(path)} characters (limit {limit})")
    keys = path.split(".")
    if any(key == "" for key in keys):
        raise errors.BadRequest(f"invalid path {path!r}: empty key")
    if SECRET_KEY in keys:  # it would forge a secret marker
        raise errors.BadRequest(f"invalid path {path!r}: the key {SECRET_KEY!r} is reserved")
    return keys


def is_secret(node: Any) -> bool:
    """Whether ``node`` is a secret marker."""
    return isinstance(node, dict) and len(node) == 1 and SECRET_KEY in node


def lookup(doc: Any, keys: list[str]) -> Any:
    """The node at ``keys``; :class:`~micro.errors.NotFound` when there is none."""
    node = doc
    for key in keys:
        if not isinstance(node, dict) or is_secret(node) or key not in node:
            raise errors.NotFound("not found")
        node = node[key]
    return node


def exists(doc: Any, keys: list[str]) -> bool:
    try:
        lookup(doc, keys)
    except errors.NotFound:
        return False
    return True


def merge(old: Any, new: Any) -> Any:
    """``new`` deep-merged into ``old``: objects merge key by key, anything else replaces."""
    if not isinstance(old, dict) or not isinstance(new, dict) or is_secret(old) or is_secret(new):
        return new
    merged = dict(old)
    for key, value in new.items():
        merged[key] = merge(old[key], value) if key in old else value
    return merged


def set_at(doc: dict[str, Any], keys: list[str], value: Any) -> dict[str, Any]:
    """A copy of ``doc`` with ``value`` merged in at ``keys``.

    Missing or non-object nodes on the way become objects (a scalar is replaced by a map).
    An empty ``keys`` merges ``value`` (which must be an object) into the root.
    """
    if not keys:
        if not isinstance(value, dict) or is_secret(value):
            raise errors.BadRequest("only an object can be set at the root")
        result = merge(doc, value)
        assert isinstance(result, dict)
        return result
    head, rest = keys[0], keys[1:]
    child = doc.get(head, _MISSING)
    copy = dict(doc)
    if rest:
        base = child if isinstance(child, dict) and not is_secret(child) else {}
        copy[head] = set_at(base, rest, value)
    else:
        copy[head] = value if child is _MISSING else merge(child, value)
    return copy


def delete(doc: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    """A copy of ``doc`` without the subtree at ``keys`` (unchanged when it is missing)."""
    if not keys:
        return {}
    head, rest = keys[0], keys[1:]
    if head not in doc:
        return doc
    if not rest:
        copy = dict(doc)
        del copy[head]
        return copy
    child = doc[head]
    if not isinstance(child, dict) or is_secret(child):
        return doc
    pruned = delete(child, rest)
    if pruned is child:
        return doc
    copy = dict(doc)
    copy[head] = pruned
    return copy


def check_value(value: Any, *, depth: int = 0) -> None:
    """Refuse what a document must not hold: objects that would be mistaken for secret
    markers (inside lists, which are leaves, they are harmless), numbers JSON cannot carry
    (NaN, Infinity), strings that are not Unicode text (a lone surrogate from a ``"\\ud800"``
    escape cannot be stored) and nesting deeper than ``MICRO_LIMIT_CONFIG_DEPTH`` counted
    from the root, ``depth`` being the keys of the path the value is set at (a document
    nested hundreds deep would fail every later read of it)."""
    _check(value, depth, limits().config_depth, in_list=False)


def _check(value: Any, depth: int, limit: int, *, in_list: bool) -> None:
    if depth > limit:
        raise errors.BadRequest(f"value nested too deeply (limit {limit} levels)")
    if isinstance(value, float) and not math.isfinite(value):
        raise errors.BadRequest(
            f"invalid value {value!r}: numbers must be finite (JSON has no NaN or Infinity)"
        )
    if isinstance(value, str):
        _check_text(value)
    elif isinstance(value, list):
        for child in value:
            _check(child, depth + 1, limit, in_list=True)
    elif isinstance(value, dict):
        for key, child in value.items():
            if key == SECRET_KEY and not in_list:
                raise errors.BadRequest(f"the key {SECRET_KEY!r} is reserved")
            _check_text(key)
            _check(child, depth + 1, limit, in_list=in_list)


def _check_text(text: str) -> None:
    try:
        text.encode()
    except UnicodeEncodeError:
        raise errors.BadRequest("invalid value: a string holds a lone surrogate (not Unicode text)") from None


def seal(value: Any, wrap: Callable[[Any], Any]) -> Any:
    """``value`` with every leaf (anything but an object) replaced by ``{"$secret": wrap(leaf)}``."""
    if isinstance(value, dict) and value:
        return {key: seal(child, wrap) for key, child in value.items()}
    return {SECRET_KEY: wrap(value)}


def reveal(node: Any, unwrap: Callable[[Any], Any]) -> Any:
    """``node`` with every secret marker replaced by ``unwrap(payload)``."""
    if is_secret(node):
        return unwrap(node[SECRET_KEY])
    if isinstance(node, dict):
        return {key: reveal(child, unwrap) for key, child in node.items()}
    return node


def mask(node: Any) -> Any:
    """``node`` with every secret shown as ``"[secret]"``."""
    return reveal(node, lambda _payload: MASK)
