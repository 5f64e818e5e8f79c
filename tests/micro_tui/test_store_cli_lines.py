"""The store area's CLI lines are real ``micro store`` commands: the CLI's own parser reads
each one back into the same key, value, table, database, TTL and version."""

from __future__ import annotations

import shlex
from typing import Any

import typer.main

from commands.store import app as store_app
from micro_tui.slices.store_cli import delete_line, read_line, write_line


def _parsed(line: str) -> tuple[str, dict[str, Any]]:
    words = shlex.split(line)
    assert words[:2] == ["micro", "store"]
    group = typer.main.get_command(store_app)
    command = group.get_command(None, words[2])  # type: ignore[attr-defined]
    return words[2], command.make_context(words[2], words[3:]).params


def test_a_write_line_carries_key_value_scope_ttl_and_version() -> None:
    line = write_line("-1", '-minus {"a": 1}\nline 2', database="team-a", table="t", ttl=59.2, version=3)
    name, params = _parsed(line)
    assert name == "write"
    assert (params["key"], params["value"]) == ("-1", ['-minus {"a": 1}\nline 2'])
    assert (params["table_"], params["database"], params["expiry"], params["version"]) == (
        "t",
        "team-a",
        "60s",
        3,
    )


def test_a_write_line_without_ttl_or_version_leaves_them_out() -> None:
    assert write_line("k", "v", table="users") == "micro store write --table users k v"
    assert _parsed(write_line("k", "v", table="users"))[1]["version"] is None


def test_read_and_delete_lines() -> None:
    name, params = _parsed(read_line("a b", table="users"))
    assert (name, params["key"], params["table_"], params["database"]) == ("read", "a b", "users", "")
    assert params["output"].value == "json"
    name, params = _parsed(delete_line("[b]k", database="d", table="t"))
    assert (name, params["key"], params["table_"], params["database"]) == ("delete", "[b]k", "t", "d")
