"""The ``micro store …`` command line equivalent to each store action of the workspace
(UI-free): what ``c`` copies and what a mutation shows and logs.

Options come first and the key and value after ``--`` when one of them starts with ``-``
(``micro store write -- -1 minus one``), so that every line works pasted into a shell.
"""

from __future__ import annotations

import math

from micro_tui.actions import cli_line

__all__ = ["delete_line", "read_line", "write_line"]


def _scope(database: str, table: str) -> list[str]:
    words = ["--table", table] if table else []
    return words + (["--database", database] if database else [])


def _positional(*words: str) -> list[str]:
    return ["--", *words] if any(w.startswith("-") for w in words) else list(words)


def read_line(key: str, *, database: str = "", table: str = "") -> str:
    """``micro store read`` of one key, with ``--output json`` for its version and expiry."""
    return cli_line("store", "read", *_scope(database, table), "--output", "json", *_positional(key))


def write_line(
    key: str,
    value: str,
    *,
    database: str = "",
    table: str = "",
    ttl: float | None = None,
    version: int | None = None,
) -> str:
    """``micro store write`` of ``value`` (text) under ``key``; ``--expiry`` in whole seconds
    (rounded up), ``--version`` when the write names the version it expects."""
    words = _scope(database, table)
    if ttl:
        words += ["--expiry", f"{math.ceil(ttl)}s"]
    if version is not None:
        words += ["--version", str(version)]
    return cli_line("store", "write", *words, *_positional(key, value))


def delete_line(key: str, *, database: str = "", table: str = "") -> str:
    return cli_line("store", "delete", *_scope(database, table), *_positional(key))
