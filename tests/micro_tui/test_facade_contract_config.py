"""The config slice's contract, over the fake and the real facade (see
test_facade_contract.py): the document with secrets masked until asked for, set's merge,
delete, the watch, and the server's 401 without a login."""

from __future__ import annotations

import asyncio

import pytest

from micro import errors
from micro_tui.slices.config import SECRET, ConfigChange
from tests.micro_tui.contract import Harness, logged_in

DEADLINE = 10.0


async def test_set_merges_get_reads_delete_removes_once_logged_in(harness: Harness) -> None:
    config = harness.facade.config
    with pytest.raises(errors.MicroError) as refused:
        await config.document()
    assert refused.value.code == 401  # the server's "an account is required"
    await logged_in(harness)
    await config.delete("tca")
    await config.set("tca", {"db": {"host": "h", "port": 5}})
    await config.set("tca.db", {"user": "u"})  # an object merges: host and port survive
    assert await config.get("tca.db") == {"host": "h", "port": 5, "user": "u"}
    await config.set("tca.db.port", "x")  # anything else replaces
    assert (await config.document())["tca"] == {"db": {"host": "h", "port": "x", "user": "u"}}
    await config.delete("tca.db.user")
    assert await config.get("tca") == {"db": {"host": "h", "port": "x"}}
    with pytest.raises(errors.NotFound):
        await config.get("tca.db.nope")
    await config.delete("tca.missing")  # not an error
    await config.delete("tca")
    assert "tca" not in await config.document()


async def test_secrets_are_masked_unless_asked_for(harness: Harness) -> None:
    config = (await logged_in(harness)).config
    await config.set("tcs.api_key", "sk-1", secret=True)
    await config.set("tcs.plain", "p")
    assert (await config.document())["tcs"] == {"api_key": SECRET, "plain": "p"}
    assert await config.get("tcs.api_key") == SECRET
    assert await config.get("tcs.api_key", secret=True) == "sk-1"
    assert await config.get("tcs", secret=True) == {"api_key": "sk-1", "plain": "p"}
    await config.delete("tcs")


async def test_the_watch_sees_sets_and_deletes(harness: Harness) -> None:
    config = (await logged_in(harness)).config
    seen: asyncio.Queue[ConfigChange] = asyncio.Queue()

    async def follow() -> None:
        async for change in config.watch():
            seen.put_nowait(change)

    task = asyncio.create_task(follow())
    try:
        # the watch starts on the server some time after the call: set until it is seen
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE
        change: ConfigChange | None = None
        n = 0
        while change is None or change.path != "tcw.n":
            assert loop.time() < deadline, "the watch never saw the change"
            n += 1
            await config.set("tcw.n", n)
            try:
                change = await asyncio.wait_for(seen.get(), 0.2)
            except TimeoutError:
                continue
        await config.set("tcw.key", "k", secret=True)
        await config.delete("tcw")
        later = [await asyncio.wait_for(seen.get(), DEADLINE) for _ in range(2)]
        while later[0].path == "tcw.n":  # a set made while the watch was starting
            later = [later[1], await asyncio.wait_for(seen.get(), DEADLINE)]
        assert later[0] == ConfigChange("tcw.key", SECRET, False)
        assert (later[1].path, later[1].deleted) == ("tcw", True)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
