"""One conformance suite for the Config interface, run against every backend.

``memory`` is MemoryConfig; ``store-memory`` and ``store-sqlite`` are the server's
StoreConfig on MemoryStore and SqliteStore; ``grpc`` is a GrpcConfig against a real
in-process server.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from micro import errors
from micro.config import Change, Config
from micro.config.grpc import GrpcConfig
from micro.config.memory import MemoryConfig
from micro.proto.config import config_pb2, config_pb2_grpc
from micro.settings import limits
from micro.store import Store
from micro.store.memory import MemoryStore
from server.config.stored import KEY_FILE, TABLE, StoreConfig, load_key
from server.store.sqlite import SqliteStore
from tests._poll import eventually


class _Interleaving:
    """Yields to the loop before each read and write, as a store across a network would,
    so that concurrent read-modify-writes really interleave."""

    async def read(self, *args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0)
        return await super().read(*args, **kwargs)  # type: ignore[misc]

    async def write(self, *args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0)
        return await super().write(*args, **kwargs)  # type: ignore[misc]


class InterleavingMemoryStore(_Interleaving, MemoryStore):
    pass


class InterleavingSqliteStore(_Interleaving, SqliteStore):
    pass


@dataclass
class Backend:
    config: Config
    store: Store | None  # where the document rests, when it rests anywhere
    twin: Config | None = None  # a second server's view of the same store


@pytest.fixture(params=["memory", "store-memory", "store-sqlite", "grpc"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path, micro_home: Path) -> AsyncIterator[Backend]:
    kind = request.param
    store: Store | None = None
    if kind == "memory":
        yield Backend(MemoryConfig(), None)
        return
    if kind == "grpc":
        # the conftest ``server`` fixture, started here: an async fixture cannot request it lazily
        from server.app import Server

        server = Server(data_dir=micro_home / "server", address="127.0.0.1:0", profile="local", auth=False)
        await server.start()
        config = GrpcConfig(server.bound_address)
        try:
            yield Backend(config, server.backends.store)
        finally:
            await config.close()
            await server.stop(grace=0)
        return
    if kind == "store-memory":
        store = InterleavingMemoryStore()
    else:
        store = InterleavingSqliteStore(tmp_path / "store.db")
    key = load_key(tmp_path / "data")
    yield Backend(StoreConfig(store, key=key), store, twin=StoreConfig(store, key=key))
    await store.close()


@pytest.fixture
def config(backend: Backend) -> Config:
    return backend.config


async def until(predicate: Callable[[], bool], *, timeout: float = 5.0) -> None:
    await eventually(predicate, "the config change arriving", timeout=timeout, interval=0.005)


class Watching:
    """Collects the changes of one watch in a background task."""

    def __init__(self, config: Config, path: str, namespace: str = "") -> None:
        self.config = config
        self.path = path
        self.namespace = namespace
        self.probe_value: Any = None
        self.changes: list[Change] = []
        self.error: BaseException | None = None
        self._task = asyncio.create_task(self._run(config.watch(path, namespace=namespace)))

    async def _run(self, changes: AsyncIterator[Change]) -> None:
        try:
            async for change in changes:
                self.changes.append(change)
        except Exception as exc:
            self.error = exc

    async def ready(self, probe: str) -> None:
        """Set ``probe`` until the watch reports it: after that no change is missed."""
        count = 0
        deadline = time.monotonic() + 5.0
        while not any(c.path == probe for c in self.changes):
            assert time.monotonic() < deadline, "the watch never started"
            count += 1
            await self.config.set(probe, count, namespace=self.namespace)
            await asyncio.sleep(0.01 * min(count, 10))
        # the last probe is the last change before the test's own
        await until(lambda: any(c.path == probe and c.value == count for c in self.changes))
        self.probe_value = count
        self.changes.clear()

    async def stop(self) -> None:
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass


# -- get / set / delete -------------------------------------------------------------------


async def test_set_then_get_returns_the_value(config: Config) -> None:
    await config.set("somekey", "val1")
    assert await config.get("somekey") == "val1"


async def test_get_missing_path_is_not_found(config: Config) -> None:
    with pytest.raises(errors.NotFound):
        await config.get("nosuch")
    await config.set("a", {"b": 1})
    with pytest.raises(errors.NotFound):
        await config.get("a.c")
    with pytest.raises(errors.NotFound):
        await config.get("a.b.c")


async def test_dotted_paths_address_nested_values(config: Config) -> None:
    await config.set("db.host", "localhost")
    await config.set("db.port", 5432)
    assert await config.get("db") == {"host": "localhost", "port": 5432}
    assert await config.get("db.port") == 5432
    assert await config.get("") == {"db": {"host": "localhost", "port": 5432}}


async def test_objects_merge(config: Config) -> None:
    await config.set("key", {"a": 1})
    await config.set("key", {"b": 2})
    assert await config.get("key") == {"a": 1, "b": 2}


async def test_nested_objects_merge_deeply(config: Config) -> None:
    await config.set("key", {"a": {"x": 1, "y": 2}, "b": True})
    await config.set("key", {"a": {"y": 3, "z": [1, 2]}})
    assert await config.get("key") == {"a": {"x": 1, "y": 3, "z": [1, 2]}, "b": True}


async def test_scalar_and_map_replace_each_other(config: Config) -> None:
    await config.set("key", "scalar")
    await config.set("key.sub", 1)
    assert await config.get("key") == {"sub": 1}
    await config.set("key", 7.5)
    assert await config.get("key") == 7.5


async def test_keys_are_case_sensitive(config: Config) -> None:
    await config.set("Key", 1)
    await config.set("key", 2)
    assert await config.get("Key") == 1
    assert await config.get("key") == 2


async def test_angle_brackets_read_back_unescaped(config: Config) -> None:
    await config.set("key", "Value with <> signs")
    assert await config.get("key") == "Value with <> signs"


async def test_json_types_round_trip(config: Config) -> None:
    value = {"s": "é ✓", "i": -3, "f": 0.5, "t": True, "n": None, "l": [1, "two", {"x": 3}]}
    await config.set("types", value)
    assert await config.get("types") == value


async def test_delete_removes_the_subtree(config: Config) -> None:
    await config.set("a", {"b": {"c": 1}, "d": 2})
    await config.delete("a.b")
    assert await config.get("a") == {"d": 2}
    with pytest.raises(errors.NotFound):
        await config.get("a.b.c")
    await config.delete("a")
    with pytest.raises(errors.NotFound):
        await config.get("a")


async def test_delete_of_a_missing_path_changes_nothing_and_no_watch_fires(config: Config) -> None:
    await config.set("kept", {"a": 1})
    watching = Watching(config, "")
    try:
        await watching.ready("probe")
        await config.delete("nosuch.path")
        await config.delete("kept.b")
        await config.delete("nosuch", namespace="elsewhere")
        await config.set("later", 2)  # a real change: the first one the watch sees
        await until(lambda: len(watching.changes) >= 1)
        assert _summary(watching.changes)[0] == ("later", 2, False)
    finally:
        await watching.stop()
    assert await config.get() == {"kept": {"a": 1}, "probe": watching.probe_value, "later": 2}
    with pytest.raises(errors.NotFound):
        await config.get("nosuch", namespace="elsewhere")


@pytest.mark.parametrize("path", ["a..b", ".a", "a."])
async def test_invalid_paths_are_bad_requests(config: Config, path: str) -> None:
    with pytest.raises(errors.BadRequest):
        await config.set(path, 1)
    with pytest.raises(errors.BadRequest):
        await config.get(path)


async def test_namespaces_are_isolated(config: Config) -> None:
    await config.set("key", "in-foo", namespace="foo")
    with pytest.raises(errors.NotFound):
        await config.get("key", namespace="bar")
    with pytest.raises(errors.NotFound):
        await config.get("key")
    await config.set("key", "in-bar", namespace="bar")
    assert await config.get("key", namespace="foo") == "in-foo"
    assert await config.get("key", namespace="bar") == "in-bar"


# -- secrets ------------------------------------------------------------------------------


async def test_secrets_are_masked_unless_asked(config: Config) -> None:
    await config.set("db.password", "hunter2", secret=True)
    assert await config.get("db.password") == "[secret]"
    assert await config.get("db.password", secret=True) == "hunter2"


async def test_secret_objects_mask_each_leaf_and_merge_keeps_them(config: Config) -> None:
    await config.set("creds", {"user": "u", "key": {"id": 7}}, secret=True)
    await config.set("creds", {"region": "eu"})
    assert await config.get("creds") == {"user": "[secret]", "key": {"id": "[secret]"}, "region": "eu"}
    assert await config.get("creds", secret=True) == {"user": "u", "key": {"id": 7}, "region": "eu"}


async def test_secrets_are_encrypted_at_rest(backend: Backend) -> None:
    if backend.store is None:
        pytest.skip("this backend keeps nothing at rest")
    await backend.config.set("db.password", "plaintext-hunter2", secret=True)
    await backend.config.set("db.user", "visible-user")
    records = await backend.store.read("document", database="micro", table=TABLE)
    raw = records[0].value
    assert b"visible-user" in raw
    assert b"plaintext-hunter2" not in raw
    assert b"$secret" in raw


async def test_reserved_secret_key_is_refused(config: Config) -> None:
    with pytest.raises(errors.BadRequest):
        await config.set("x", {"$secret": "forged"})


@pytest.mark.parametrize("value", [float("nan"), float("inf"), {"a": [1, float("-inf")]}])
async def test_numbers_json_cannot_carry_are_refused(config: Config, value: Any) -> None:
    """NaN was stored, and every later JSON read of the document was invalid JSON."""
    with pytest.raises(errors.BadRequest, match="finite"):
        await config.set("x", value)
    with pytest.raises(errors.NotFound):
        await config.get("x")
    await config.set("x", [{"$secret": 1}])  # inside a list it is no marker
    assert await config.get("x") == [{"$secret": 1}]


@pytest.mark.parametrize("path", ["$secret", "x.$secret", "x.$secret.y"])
async def test_reserved_secret_key_is_refused_in_a_path(config: Config, path: str) -> None:
    """``config set x.$secret abc`` once forged a secret marker: every later ``get -s`` of
    ``x`` or of the whole document failed (exit 127, cannot decrypt)."""
    await config.set("db.password", "hunter2", secret=True)
    with pytest.raises(errors.BadRequest, match=r"\$secret"):
        await config.set(path, "abc")
    with pytest.raises(errors.BadRequest, match=r"\$secret"):
        await config.delete(path)
    assert await config.get("", secret=True) == {"db": {"password": "hunter2"}}


# -- concurrency --------------------------------------------------------------------------


async def test_concurrent_sets_on_different_paths_lose_nothing(config: Config) -> None:
    await asyncio.gather(*(config.set(f"many.k{i}", i) for i in range(50)))
    assert await config.get("many") == {f"k{i}": i for i in range(50)}


async def test_two_servers_sharing_a_store_lose_nothing(backend: Backend) -> None:
    if backend.twin is None:
        pytest.skip("one process only")
    configs = [backend.config, backend.twin]
    await asyncio.gather(*(configs[i % 2].set(f"many.k{i}", {"v": i}) for i in range(50)))
    expected = {f"k{i}": {"v": i} for i in range(50)}
    assert await backend.config.get("many") == expected
    assert await backend.twin.get("many") == expected


# -- watch --------------------------------------------------------------------------------


def _summary(changes: list[Change]) -> list[tuple[str, Any, bool]]:
    return [(c.path, c.value, c.deleted) for c in changes]


async def test_watch_sees_sets_and_deletes_in_order(config: Config) -> None:
    watching = Watching(config, "app")
    try:
        await watching.ready("app.probe")
        await config.set("app.name", "one")
        await config.set("app", {"port": 80})
        await config.set("other", 1)  # outside the watched path
        await config.delete("app.name")
        await config.set("app.secret", "s", secret=True)
        await until(lambda: len(watching.changes) >= 4)
        assert _summary(watching.changes) == [
            ("app.name", "one", False),
            ("app", {"probe": watching.probe_value, "name": "one", "port": 80}, False),
            ("app.name", None, True),
            ("app.secret", "[secret]", False),
        ]
        assert all(c.timestamp.tzinfo is not None for c in watching.changes)
    finally:
        await watching.stop()
    assert watching.error is None


async def test_watch_of_a_child_sees_changes_made_through_its_parent(config: Config) -> None:
    watching = Watching(config, "db.host")
    try:
        await watching.ready("db.host")
        await config.set("db", {"host": "h1"})
        await config.set("db", {"port": 1})  # db.host unchanged: nothing
        await config.set("db", "flat")  # db.host is gone
        await config.set("db.host", "h2")
        await until(lambda: len(watching.changes) >= 3)
        assert _summary(watching.changes) == [
            ("db.host", "h1", False),
            ("db.host", None, True),
            ("db.host", "h2", False),
        ]
    finally:
        await watching.stop()


async def test_watch_is_per_namespace(config: Config) -> None:
    watching = Watching(config, "", namespace="ns1")
    try:
        await watching.ready("probe")
        await config.set("key", "elsewhere", namespace="ns2")
        await config.set("key", "here", namespace="ns1")
        await until(lambda: len(watching.changes) >= 1)
        assert _summary(watching.changes) == [("key", "here", False)]
    finally:
        await watching.stop()


# -- the server's backend and handler -----------------------------------------------------


def test_secret_key_is_generated_once_and_private(tmp_path: Path) -> None:
    key = load_key(tmp_path)
    assert len(key) == 32
    assert stat.S_IMODE(os.stat(tmp_path / KEY_FILE).st_mode) == 0o600
    assert load_key(tmp_path) == key


async def test_secrets_survive_a_restart_with_the_same_key(tmp_path: Path) -> None:
    store = MemoryStore()
    await StoreConfig(store, key=load_key(tmp_path)).set("pw", "p4ss", secret=True)
    assert await StoreConfig(store, key=load_key(tmp_path)).get("pw", secret=True) == "p4ss"
    other = StoreConfig(store, key=load_key(tmp_path / "other"))
    with pytest.raises(errors.InternalServerError):
        await other.get("pw", secret=True)


async def test_server_creates_its_key_and_refuses_bad_json(server: Any) -> None:
    assert (server.backends.data_dir / KEY_FILE).exists()
    async with grpc.aio.insecure_channel(server.bound_address) as channel:
        stub = config_pb2_grpc.ConfigStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.Set(config_pb2.SetRequest(path="k", value=config_pb2.Value(data="{bad")))
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "invalid JSON value" in (info.value.details() or "")
        # the namespace comes from the metadata when the request names none
        await stub.Set(
            config_pb2.SetRequest(path="k", value=config_pb2.Value(data=json.dumps("v"))),
            metadata=(("micro-namespace", "team"),),
        )
        response = await stub.Get(config_pb2.GetRequest(namespace="team", path="k"))
        assert json.loads(response.value.data) == "v"
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await stub.Get(config_pb2.GetRequest(path="k"))
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
        assert missing.value.details() == "not found"


async def test_a_document_past_the_store_limit_is_refused(backend: Backend) -> None:
    """The document is one store record: it once grew without bound until every read of it
    failed ('Sent message larger than max'); now a set that would pass 1 MiB is 413."""
    if backend.store is None:
        pytest.skip("nothing at rest bounds this backend")
    config = backend.config
    chunk = "x" * (300 * 1024)
    for i in range(3):
        await config.set(f"big.k{i}", chunk)
    with pytest.raises(errors.TooLarge, match="config too large"):
        await config.set("big.k3", chunk)
    await config.set("small", 1)  # small changes still fit
    assert await config.get("small") == 1
    assert sorted(await config.get("big")) == ["k0", "k1", "k2"]
    await config.delete("big.k0")  # shrinking is always allowed
    await config.set("big.k3", chunk)


@pytest.mark.parametrize("value", ["\ud800", {"a": ["x", "\udfff"]}, {"\ud800": 1}])
async def test_strings_that_are_not_unicode_text_are_refused(config: Config, value: Any) -> None:
    """A lone surrogate (JSON's "\\ud800") was stored, then every write of the document failed."""
    with pytest.raises(errors.BadRequest, match="lone surrogate"):
        await config.set("text", value)
    await config.set("after", 1)  # the document still takes writes


async def test_nesting_deeper_than_the_limit_is_refused(config: Config) -> None:
    depth = limits().config_depth

    def nested(levels: int) -> Any:
        value: Any = 1
        for _ in range(levels):
            value = {"a": value}
        return value

    await config.set("fits", nested(depth - 1))
    with pytest.raises(errors.BadRequest, match=f"nested too deeply \\(limit {depth} levels\\)"):
        await config.set("deep", nested(depth))
    with pytest.raises(errors.BadRequest, match="nested too deeply"):
        await config.set("a.b.c", nested(depth - 2))
    assert set(await config.get("")) == {"fits"}
