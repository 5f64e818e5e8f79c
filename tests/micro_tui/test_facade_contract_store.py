"""The store slice's contract, over the fake and a real in-process server (see conftest.py)."""

from __future__ import annotations

import pytest

from micro import errors
from micro.store import Order
from micro_tui.facade import EnvInfo
from micro_tui.slices.store import KeyPage, StoreRecord, VersionConflict
from tests.micro_tui.contract import Harness, logged_in

TABLE = "contract"


async def _fill(harness: Harness, count: int, table: str = TABLE) -> list[str]:
    store = harness.facade.store
    keys = [f"k:{i:03d}" + (".json" if i % 5 == 0 else "") for i in range(count)]
    for key in keys:
        await store.write(key, key.encode(), table=table)
    return sorted(keys)


async def test_the_store_wants_a_login(harness: Harness) -> None:
    store = harness.facade.store
    with pytest.raises(errors.MicroError) as refused:
        await store.list_keys(table=TABLE)
    assert refused.value.code in (401, 403)


async def test_a_record_reads_back_with_its_value_version_and_ttl(harness: Harness) -> None:
    await logged_in(harness)
    store = harness.facade.store
    assert await store.write("greeting", b'{"hello": "world"}', table=TABLE) == 1
    assert await store.write("greeting", b'{"hello": "again"}', table=TABLE) == 2
    record = await store.read("greeting", table=TABLE)
    assert isinstance(record, StoreRecord)
    assert (record.key, record.value, record.version) == ("greeting", b'{"hello": "again"}', 2)
    assert record.ttl is None
    await store.write("brief", b"\x00\xff binary", table=TABLE, ttl=60)
    brief = await store.read("brief", table=TABLE)
    assert brief.value == b"\x00\xff binary"
    assert brief.ttl is not None and 0 < brief.ttl <= 60
    with pytest.raises(errors.NotFound):
        await store.read("missing", table=TABLE)
    # the namespace's database is the default one
    assert (await store.read("greeting", database="micro", table=TABLE)).version == 2
    assert "micro" in await store.databases()
    assert TABLE in await store.tables("micro")
    assert TABLE in await store.tables()


async def test_keys_page_forward_and_back_by_key_never_by_offset(harness: Harness) -> None:
    await logged_in(harness)
    store = harness.facade.store
    keys = await _fill(harness, 25)
    first = await store.list_keys(table=TABLE, limit=10)
    assert isinstance(first, KeyPage)
    assert first == KeyPage(tuple(keys[:10]), True)
    second = await store.list_keys(table=TABLE, limit=10, start_after=first.keys[-1])
    assert second == KeyPage(tuple(keys[10:20]), True)
    third = await store.list_keys(table=TABLE, limit=10, start_after=second.keys[-1])
    assert third == KeyPage(tuple(keys[20:]), False)
    # the last page is the first in descending order; back from a page, descending after its first key
    last = await store.list_keys(table=TABLE, limit=10, order=Order.DESC)
    assert last == KeyPage(tuple(reversed(keys[-10:])), True)
    back = await store.list_keys(table=TABLE, limit=10, order=Order.DESC, start_after=second.keys[0])
    assert back == KeyPage(tuple(reversed(keys[:10])), False)
    exact = await store.list_keys(table=TABLE, limit=25)
    assert exact == KeyPage(tuple(keys), False)


async def test_keys_filter_by_prefix_and_suffix(harness: Harness) -> None:
    await logged_in(harness)
    store = harness.facade.store
    keys = await _fill(harness, 25)
    await store.write("other", b"x", table=TABLE)
    page = await store.list_keys(table=TABLE, prefix="k:01")
    assert page == KeyPage(tuple(k for k in keys if k.startswith("k:01")), False)
    page = await store.list_keys(table=TABLE, suffix=".json", limit=3)
    assert page == KeyPage(("k:000.json", "k:005.json", "k:010.json"), True)
    page = await store.list_keys(table=TABLE, prefix="k:01", suffix=".json", order=Order.DESC)
    assert page == KeyPage(("k:015.json", "k:010.json"), False)
    page = await store.list_keys(table=TABLE, prefix="k:0", start_after="k:007", limit=2)
    assert page == KeyPage(("k:008", "k:009"), True)
    assert await store.list_keys(table=TABLE, prefix="zz") == KeyPage((), False)


async def test_a_write_at_a_stale_version_is_a_conflict_that_carries_the_current_record(
    harness: Harness,
) -> None:
    await logged_in(harness)
    store = harness.facade.store
    assert await store.write("doc", b"mine", table=TABLE, version=0) == 1  # 0: must not exist
    seen = await store.read("doc", table=TABLE)
    await store.write("doc", b"theirs", table=TABLE)  # someone else, meanwhile
    with pytest.raises(VersionConflict) as conflict:
        await store.write("doc", b"mine again", table=TABLE, version=seen.version)
    assert conflict.value.code == 409
    assert conflict.value.current is not None
    assert (conflict.value.current.value, conflict.value.current.version) == (b"theirs", 2)
    assert (await store.read("doc", table=TABLE)).value == b"theirs"  # not overwritten
    with pytest.raises(VersionConflict):
        await store.write("doc", b"new", table=TABLE, version=0)
    assert await store.write("doc", b"mine, on theirs", table=TABLE, version=2) == 3
    await store.delete("doc", table=TABLE)
    with pytest.raises(VersionConflict) as gone:
        await store.write("doc", b"edit of a deleted record", table=TABLE, version=3)
    assert gone.value.current is None


async def test_delete_removes_the_key_and_a_missing_key_is_no_error(harness: Harness) -> None:
    await logged_in(harness)
    store = harness.facade.store
    await store.write("a", b"1", table=TABLE)
    await store.write("b", b"2", table=TABLE)
    await store.delete("a", table=TABLE)
    await store.delete("a", table=TABLE)
    with pytest.raises(errors.NotFound):
        await store.read("a", table=TABLE)
    assert (await store.list_keys(table=TABLE)).keys == ("b",)


async def test_internal_tables_are_refused(harness: Harness) -> None:
    await logged_in(harness)
    store = harness.facade.store
    with pytest.raises(errors.Forbidden):
        await store.list_keys(table="_config")


async def test_a_read_only_env_refuses_writes_with_the_clis_words(harness: Harness) -> None:
    await logged_in(harness)
    store, session = harness.facade.store, harness.facade.session
    await store.write("kept", b"1", table=TABLE)
    session.add_env(EnvInfo("frozen", session.address, read_only=True))
    session.set_env("frozen")
    for attempt in (
        store.write("kept", b"2", table=TABLE),
        store.write("new", b"2", table=TABLE, version=0),
        store.delete("kept", table=TABLE),
    ):
        with pytest.raises(errors.BadRequest) as refused:
            await attempt
        assert refused.value.detail == "Environment 'frozen' is read-only"
