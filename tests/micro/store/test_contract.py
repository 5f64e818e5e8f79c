"""One conformance suite for the Store interface, run against every backend.

``memory`` and ``sqlite`` run in-process; ``grpc`` is a GrpcStore against a real
in-process server (SQLite). Time is a fake clock injected into the backend (for ``grpc``,
into the server's store), so expiry tests never wait.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from micro import errors
from micro.store import Order, Record, Store
from micro.store.grpc import GrpcStore
from micro.store.memory import MemoryStore
from server.store.sqlite import SqliteStore


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def memory_store(clock: FakeClock) -> AsyncIterator[Store]:
    store = MemoryStore(clock=clock)
    yield store
    await store.close()


@pytest.fixture
async def sqlite_store(clock: FakeClock, tmp_path: Path) -> AsyncIterator[Store]:
    store = SqliteStore(tmp_path / "store.db", clock=clock)
    yield store
    await store.close()


@pytest.fixture
async def grpc_store(clock: FakeClock, server: Any) -> AsyncIterator[Store]:
    server.backends.store.clock = clock
    store = GrpcStore(server.bound_address)
    yield store
    await store.close()


@pytest.fixture(params=["memory", "sqlite", "grpc"])
def store(request: pytest.FixtureRequest) -> Store:
    backend: Store = request.getfixturevalue(f"{request.param}_store")
    return backend


async def write_all(store: Store, *keys: str, **kwargs: Any) -> None:
    for key in keys:
        await store.write(Record(key, key.encode()), **kwargs)


# -- read ------------------------------------------------------------------------------------


async def test_read_exact_key_returns_the_record(store: Store) -> None:
    await store.write(Record("foo", b"bar"))
    [record] = await store.read("foo")
    assert (record.key, record.value, record.expiry) == ("foo", b"bar", None)


async def test_read_missing_key_is_not_found(store: Store) -> None:
    with pytest.raises(errors.NotFound) as info:
        await store.read("nosuch")
    assert info.value.code == 404
    assert info.value.detail == "not found"


async def test_read_exact_key_does_not_match_as_prefix(store: Store) -> None:
    await write_all(store, "foobar")
    with pytest.raises(errors.NotFound):
        await store.read("foo")


async def test_read_prefix(store: Store) -> None:
    await write_all(store, "a/1", "a/2", "ab", "b/1")
    records = await store.read("a/", prefix=True)
    assert [(r.key, r.value) for r in records] == [("a/1", b"a/1"), ("a/2", b"a/2")]


async def test_read_prefix_without_match_is_empty(store: Store) -> None:
    await write_all(store, "a")
    assert await store.read("zzz", prefix=True) == []


async def test_read_suffix(store: Store) -> None:
    await write_all(store, "x.json", "y.JSON", "z.json", "json")
    assert [r.key for r in await store.read(".json", suffix=True)] == ["x.json", "z.json"]


async def test_read_prefix_and_suffix_must_both_match(store: Store) -> None:
    await write_all(store, "a.txt", "a.bin", "b.txt")
    assert [r.key for r in await store.read("a", prefix=True, suffix=True)] == []
    await write_all(store, "aa")
    # the key must start and end with "a"
    assert [r.key for r in await store.read("a", prefix=True, suffix=True)] == ["aa"]


async def test_read_limit_offset_and_order(store: Store) -> None:
    await write_all(store, *(f"k{i}" for i in range(6)))
    page = await store.read("k", prefix=True, limit=2, offset=3)
    assert [r.key for r in page] == ["k3", "k4"]
    page = await store.read("k", prefix=True, limit=2, offset=1, order=Order.DESC)
    assert [r.key for r in page] == ["k4", "k3"]


# -- list ------------------------------------------------------------------------------------


async def test_list_every_key_in_byte_order(store: Store) -> None:
    keys = ["b", "a", "B", "é", "z", "a0", "\u4e2d", "~"]
    await write_all(store, *keys)
    assert await store.list() == sorted(keys, key=lambda k: k.encode())


async def test_list_prefix_is_a_range(store: Store) -> None:
    await write_all(store, "user/1", "user/2", "user0", "users", "use", "\U0010ffff", "user/\U0010ffff")
    assert await store.list(prefix="user/") == ["user/1", "user/2", "user/\U0010ffff"]
    assert await store.list(prefix="\U0010ffff") == ["\U0010ffff"]


async def test_list_suffix_and_prefix(store: Store) -> None:
    await write_all(store, "a/x.txt", "a/y.bin", "b/z.txt")
    assert await store.list(suffix=".txt") == ["a/x.txt", "b/z.txt"]
    assert await store.list(prefix="a/", suffix=".txt") == ["a/x.txt"]


async def test_keys_with_nul_and_non_ascii_characters_match_every_way(store: Store) -> None:
    # SQLite's length()/substr() of TEXT stop at a NUL: the suffix once matched nothing
    await write_all(store, "n\x00b", "n\x00c", "n", "é\x00c", "xé")
    assert await store.list(suffix="\x00c") == ["n\x00c", "é\x00c"]
    assert await store.list(suffix="é") == ["xé"]
    assert await store.list(prefix="n\x00") == ["n\x00b", "n\x00c"]
    assert [r.key for r in await store.read("\x00c", suffix=True)] == ["n\x00c", "é\x00c"]
    assert (await store.read("n\x00b"))[0].value == b"n\x00b"


async def test_list_limit_and_real_offset(store: Store) -> None:
    await write_all(store, *(f"k{i:02}" for i in range(10)))
    assert await store.list(limit=3) == ["k00", "k01", "k02"]
    # v3 applied offset as a limit; here it skips
    assert await store.list(offset=8) == ["k08", "k09"]
    assert await store.list(offset=4, limit=2) == ["k04", "k05"]
    assert await store.list(offset=20) == []


async def test_list_order_desc(store: Store) -> None:
    await write_all(store, "a", "c", "b")
    assert await store.list(order=Order.DESC) == ["c", "b", "a"]
    assert await store.list(order=Order.DESC, limit=1, offset=1) == ["b"]


async def test_list_start_after_pages_both_ways(store: Store) -> None:
    await write_all(store, "a", "b", "c", "d", "e")
    assert await store.list(start_after="b") == ["c", "d", "e"]
    assert await store.list(start_after="bb", limit=2) == ["c", "d"]
    assert await store.list(start_after="d", order=Order.DESC) == ["c", "b", "a"]
    assert await store.list(start_after="d", order=Order.DESC, prefix="c") == ["c"]


async def test_list_start_after_walks_every_page(store: Store) -> None:
    keys = [f"k{i:03}" for i in range(25)]
    await write_all(store, *keys)
    seen: list[str] = []
    while page := await store.list(limit=10, start_after=seen[-1] if seen else ""):
        seen += page
    assert seen == keys


async def test_list_of_an_empty_table_is_empty(store: Store) -> None:
    assert await store.list(table="nothing-here") == []


# -- expiry ----------------------------------------------------------------------------------


async def test_expired_record_vanishes_from_read_and_list(store: Store, clock: FakeClock) -> None:
    await store.write(Record("short", b"1", expiry=10))
    await store.write(Record("long", b"2", expiry=100))
    await store.write(Record("forever", b"3"))
    [record] = await store.read("short")
    assert record.expiry is not None and 9 <= record.expiry <= 10
    clock.advance(11)
    with pytest.raises(errors.NotFound):
        await store.read("short")
    assert await store.list() == ["forever", "long"]
    assert [r.key for r in await store.read("", prefix=True)] == ["forever", "long"]
    [record] = await store.read("long")
    assert record.expiry is not None and 88 <= record.expiry <= 90


async def test_expired_records_are_skipped_before_offset_and_limit(store: Store, clock: FakeClock) -> None:
    await store.write(Record("a", b"", expiry=5))
    await write_all(store, "b", "c", "d")
    clock.advance(6)
    assert await store.list(limit=2) == ["b", "c"]
    assert await store.list(offset=1) == ["c", "d"]


async def test_rewrite_without_expiry_makes_record_permanent(store: Store, clock: FakeClock) -> None:
    await store.write(Record("k", b"1", expiry=5))
    await store.write(Record("k", b"2"))
    clock.advance(10)
    [record] = await store.read("k")
    assert (record.value, record.expiry) == (b"2", None)


async def test_negative_expiry_is_bad_request(store: Store) -> None:
    with pytest.raises(errors.BadRequest):
        await store.write(Record("k", b"", expiry=-1))


# -- metadata, values ------------------------------------------------------------------------


async def test_metadata_round_trips(store: Store) -> None:
    await store.write(Record("k", b"v", metadata={"owner": "alice", "ünï": "cødé"}))
    [record] = await store.read("k")
    assert record.metadata == {"owner": "alice", "ünï": "cødé"}


async def test_binary_values_round_trip(store: Store) -> None:
    value = bytes(range(256)) + b"\xff\xfe\x00"
    await store.write(Record("bin", value))
    [record] = await store.read("bin")
    assert record.value == value


async def test_empty_value_round_trips(store: Store) -> None:
    await store.write(Record("empty", b""))
    [record] = await store.read("empty")
    assert record.value == b""


# -- versions --------------------------------------------------------------------------------


async def test_version_starts_at_one_and_increments(store: Store) -> None:
    assert await store.write(Record("k", b"1")) == 1
    assert await store.write(Record("k", b"2")) == 2
    [record] = await store.read("k")
    assert record.version == 2


async def test_conditional_write_at_current_version(store: Store) -> None:
    await store.write(Record("k", b"1"))
    assert await store.write(Record("k", b"2"), version=1) == 2
    [record] = await store.read("k")
    assert record.value == b"2"


async def test_conditional_write_zero_means_must_not_exist(store: Store) -> None:
    assert await store.write(Record("k", b"1"), version=0) == 1
    with pytest.raises(errors.Conflict) as info:
        await store.write(Record("k", b"2"), version=0)
    assert info.value.code == 409
    [record] = await store.read("k")
    assert record.value == b"1"


async def test_stale_version_is_conflict(store: Store) -> None:
    await store.write(Record("k", b"1"))
    await store.write(Record("k", b"2"))
    await store.write(Record("k", b"3"))
    with pytest.raises(errors.Conflict) as info:
        await store.write(Record("k", b"x"), version=2)
    assert info.value.detail == "stale version: record is at version 3, expected 2"
    [record] = await store.read("k")
    assert (record.value, record.version) == (b"3", 3)


async def test_conditional_write_of_missing_record_is_conflict(store: Store) -> None:
    with pytest.raises(errors.Conflict):
        await store.write(Record("nosuch", b"x"), version=1)
    assert await store.list() == []


async def test_deleted_or_expired_record_starts_again_at_version_one(store: Store, clock: FakeClock) -> None:
    await store.write(Record("k", b"1"))
    await store.write(Record("k", b"2"))
    await store.delete("k")
    assert await store.write(Record("k", b"3"), version=0) == 1
    await store.write(Record("e", b"1", expiry=5))
    clock.advance(6)
    assert await store.write(Record("e", b"2"), version=0) == 1


# -- delete ----------------------------------------------------------------------------------


async def test_delete_removes_the_record(store: Store) -> None:
    await write_all(store, "a", "b")
    await store.delete("a")
    with pytest.raises(errors.NotFound):
        await store.read("a")
    assert await store.list() == ["b"]


async def test_delete_of_missing_key_changes_nothing(store: Store) -> None:
    await write_all(store, "a", "b")
    await store.delete("nosuch")
    await store.delete("nosuch", database="nodb", table="notable")
    assert await store.list() == ["a", "b"]
    assert [r.value for r in await store.read("", prefix=True)] == [b"a", b"b"]
    assert await store.databases() == ["micro"]
    assert await store.tables() == ["micro"]


# -- databases and tables --------------------------------------------------------------------


async def test_tables_isolate_records(store: Store) -> None:
    await store.write(Record("k", b"users"), table="users")
    await store.write(Record("k", b"orders"), table="orders")
    [record] = await store.read("k", table="users")
    assert record.value == b"users"
    assert await store.list(table="orders") == ["k"]
    with pytest.raises(errors.NotFound):
        await store.read("k")  # the default table "micro"
    await store.delete("k", table="users")
    assert await store.list(table="orders") == ["k"]


async def test_databases_isolate_records(store: Store) -> None:
    await store.write(Record("k", b"one"), database="one")
    await store.write(Record("k", b"two"), database="two")
    [record] = await store.read("k", database="two")
    assert record.value == b"two"
    assert await store.list(database="one") == ["k"]
    with pytest.raises(errors.NotFound):
        await store.read("k", database="three")


async def test_databases_and_tables_come_from_live_data(store: Store, clock: FakeClock) -> None:
    await store.write(Record("k", b""), database="alpha", table="t1")
    await store.write(Record("k", b""), database="alpha", table="t2")
    await store.write(Record("k", b"", expiry=5), database="beta", table="t3")
    await store.write(Record("k", b""), database="gamma", table="t4")
    assert await store.databases() == ["alpha", "beta", "gamma"]
    assert await store.tables("alpha") == ["t1", "t2"]
    await store.delete("k", database="gamma", table="t4")
    clock.advance(6)
    assert await store.databases() == ["alpha"]
    assert await store.tables("beta") == []
    assert await store.tables("nosuch") == []


async def test_default_database_and_table_are_micro(store: Store) -> None:
    await store.write(Record("k", b"v"))
    [record] = await store.read("k", database="micro", table="micro")
    assert record.value == b"v"
    assert await store.databases() == ["micro"]
    assert await store.tables() == ["micro"]
