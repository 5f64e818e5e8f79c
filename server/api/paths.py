"""How the HTTP gateway reads a request: the path names a service and an endpoint, the query
string (and form bodies) become a JSON object.

Path resolution is v3's (go-micro's ``apiRoute``), written out in the spec's table: the path
is cleaned, then

* one segment ``/foo`` → service ``foo``, endpoint ``Foo.Call``;
* two ``/foo/bar`` → ``foo``, ``Foo.Bar``;
* three ``/foo/bar/baz`` → ``foo``, ``Bar.Baz`` (so ``/foo/foo/bar`` is ``Foo.Bar``), except
  that a version first (``/v1/foo/bar``) makes it ``v1.foo``, ``Foo.Bar`` (and ``/v1/foo``
  ``v1.foo``, ``Foo.Call``);
* more: the last two segments are the endpoint, the rest the dotted service
  (``/foo/bar/baz/cat`` → ``foo.bar``, ``Baz.Cat``).

Each endpoint segment is upper-camel-cased at its start and at every ``-`` (``baz-xyz`` →
``BazXyz``, ``fooBar`` → ``FooBar``).
"""

from __future__ import annotations

import functools
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from micro import errors

__all__ = ["Target", "endpoint_name", "nest", "parse_query", "resolve"]

_VERSION = re.compile(r"v[0-9]+")
#: the deepest a query key may nest (``a.b.c…``): a caller cannot make the gateway build
#: arbitrarily deep objects
MAX_DEPTH = 32
#: query or form fields per request
MAX_FIELDS = 1000


@dataclass(frozen=True, slots=True)
class Target:
    """What a path calls: a service and one of its endpoints (``Handler.Method``)."""

    service: str
    endpoint: str


def _camel(segment: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in segment.split("-"))


def endpoint_name(handler: str, method: str) -> str:
    """``Handler.Method`` from two path segments."""
    return f"{_camel(handler)}.{_camel(method)}"


def resolve(path: str) -> Target:
    """The service and endpoint ``path`` calls.

    Raises:
        NotFound: the path names nothing (``/``, or only dots and slashes).
    """
    # a gateway sees the same few paths again and again; callers choose them, so only short
    # ones are kept, a bounded number
    return _resolve_kept(path) if len(path) <= 256 else _resolve(path)


@functools.lru_cache(maxsize=4096)
def _resolve_kept(path: str) -> Target:
    return _resolve(path)


def _resolve(path: str) -> Target:
    cleaned = posixpath.normpath("/" + path).lstrip("/")
    parts = [p for p in cleaned.split("/") if p and p != "."]
    if not parts or parts == [".."]:
        raise errors.NotFound(f"no service at {path[:200]!r}")
    if len(parts) == 1:
        return Target(parts[0], endpoint_name(parts[0], "call"))
    if len(parts) == 2:
        if _VERSION.fullmatch(parts[0]):
            return Target(".".join(parts), endpoint_name(parts[1], "call"))
        return Target(parts[0], endpoint_name(parts[0], parts[1]))
    if len(parts) == 3:
        if _VERSION.fullmatch(parts[0]):
            return Target(".".join(parts[:2]), endpoint_name(parts[1], parts[2]))
        return Target(parts[0], endpoint_name(parts[1], parts[2]))
    return Target(".".join(parts[:-2]), endpoint_name(parts[-2], parts[-1]))


def nest(pairs: Iterable[tuple[str, str]], *, what: str = "query") -> dict[str, Any]:
    """Query or form pairs as a JSON object: ``a.b=1`` nests (``{"a": {"b": "1"}}``) and a
    repeated key becomes a list, in order. ``what`` names the source in errors (``query`` or
    ``form``: a form body's mistake must not send a user looking at the URL).

    Raises:
        BadRequest: a key that is empty, nests too deep, or is both a value and an object
            (``a=1&a.b=2``); more than :data:`MAX_FIELDS` pairs.
    """
    result: dict[str, Any] = {}
    for count, (key, value) in enumerate(pairs, 1):
        if count > MAX_FIELDS:
            raise errors.BadRequest(f"too many {what} fields (limit {MAX_FIELDS})")
        names = key.split(".")
        if any(not name for name in names):
            raise errors.BadRequest(f"invalid {what} field {key[:100]!r}")
        if len(names) > MAX_DEPTH:
            raise errors.BadRequest(f"{what} field {key[:100]!r} nests too deeply (limit {MAX_DEPTH})")
        node = result
        for name in names[:-1]:
            child = node.setdefault(name, {})
            if not isinstance(child, dict):
                raise errors.BadRequest(f"{what} field {key[:100]!r} is both a value and an object")
            node = child
        leaf = names[-1]
        if leaf not in node:
            node[leaf] = value
        elif isinstance(node[leaf], list):
            node[leaf].append(value)
        elif isinstance(node[leaf], dict):
            raise errors.BadRequest(f"{what} field {key[:100]!r} is both a value and an object")
        else:
            node[leaf] = [node[leaf], value]
    return result


def parse_query(query: str | bytes, *, what: str = "query") -> dict[str, Any]:
    """A query string (or a form-encoded body) as a JSON object (see :func:`nest`).

    Raises:
        BadRequest: not valid UTF-8 once decoded, or as :func:`nest`.
    """
    try:
        text = query.decode("utf-8") if isinstance(query, bytes) else query
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=MAX_FIELDS)
    except UnicodeDecodeError:
        raise errors.BadRequest(f"{what} is not valid UTF-8") from None
    except ValueError:
        raise errors.BadRequest(f"too many {what} fields (limit {MAX_FIELDS})") from None
    return nest(pairs, what=what)
