"""The framework's side: typed ``Value`` accessors and the module-level functions."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

import micro.config
from micro.config import Change, Value
from micro.config.memory import MemoryConfig


@pytest.fixture
def memory() -> Iterator[MemoryConfig]:
    config = MemoryConfig()
    micro.config.set_default(config)
    yield config
    micro.config.set_default(None)


@dataclass
class Database:
    host: str = "localhost"
    port: int = 5432


def test_typed_accessors_read_their_type() -> None:
    assert Value("x").string("d") == "x"
    assert Value(3).int(0) == 3
    assert Value(3.0).int(0) == 3
    assert Value("42").int(0) == 42
    assert Value(2).float() == 2.0
    assert Value("1.5").float() == 1.5
    assert Value(True).bool() is True
    assert Value("false").bool(True) is False
    assert Value([1, 2]).list() == [1, 2]
    assert Value({"a": 1}).dict() == {"a": 1}


def test_accessors_fall_back_to_defaults_on_other_types() -> None:
    assert Value(3).string("d") == "d"
    assert Value("x").int(7) == 7
    assert Value(True).int(7) == 7
    assert Value(3.5).int(7) == 7
    assert Value("x").float(1.5) == 1.5
    assert Value(1).bool(True) is True
    assert Value("x").list([0]) == [0]
    assert Value(1).dict({"d": 1}) == {"d": 1}


def test_missing_value_never_raises() -> None:
    missing = Value.missing()
    assert not missing.exists
    assert not missing
    assert missing.raw is None
    assert missing.string("x") == "x"
    assert missing.int(3) == 3
    assert missing.float(0.5) == 0.5
    assert missing.bool(True) is True
    assert missing.get("a.b").int(9) == 9
    assert missing.scan(Database) == Database()


def test_null_exists() -> None:
    assert Value(None).exists


def test_scan_into_a_dataclass_ignores_unknown_keys() -> None:
    value = Value({"host": "db", "port": 6543, "extra": True})
    assert value.scan(Database) == Database(host="db", port=6543)
    assert value.scan(dict) == {"host": "db", "port": 6543, "extra": True}


def test_get_below_a_value() -> None:
    value = Value({"db": {"port": 1}})
    assert value.get("db.port").int() == 1
    assert not value.get("db.host").exists


async def test_module_functions_use_the_default(memory: MemoryConfig) -> None:
    await micro.config.set("db", {"host": "h", "port": 1})
    assert (await micro.config.get("db.port")).int() == 1
    assert (await micro.config.get("db")).scan(Database) == Database(host="h", port=1)
    await micro.config.set("db.password", "pw", secret=True)
    assert (await micro.config.get("db.password")).string() == "[secret]"
    assert (await micro.config.get("db.password", secret=True)).string() == "pw"
    await micro.config.delete("db")
    missing = await micro.config.get("db.port")
    assert not missing.exists
    assert missing.int(5432) == 5432
    assert await memory.get("") == {}


async def test_module_functions_reach_the_server_from_the_environment(
    server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service configured only by MICRO_PROXY sees a changed value through watch."""
    monkeypatch.setenv("MICRO_PROXY", server.bound_address)
    micro.config.set_default(None)
    await micro.config.set("feature", {"enabled": False})
    assert (await micro.config.get("feature.enabled")).bool(True) is False
    seen: list[Change] = []

    async def consume() -> None:
        async for change in micro.config.watch("feature.enabled"):
            seen.append(change)

    task = asyncio.create_task(consume())
    try:
        # the watch is live once it reports a change; flip the flag until it does
        deadline = time.monotonic() + 5
        flips = 0
        while not seen:
            assert time.monotonic() < deadline, "the watch never reported a change"
            flips += 1
            await micro.config.set("feature.enabled", flips % 2 == 1)
            await asyncio.sleep(0.02 * flips)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert seen[0].path == "feature.enabled"
    assert isinstance(seen[0].value, bool)
    stored = await server.backends.store.read("document", database="micro", table="_config")
    assert b'"feature"' in stored[0].value
